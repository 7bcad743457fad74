# DeepSpeed ZeRO-3 on GPUs: parameters sharded too (for models whose bf16 weights do not fit one GPU, e.g. 8B on
# 40 GB cards). As deepspeed_zero2.py otherwise; the checkpoint gathers full 16-bit weights on save.
runner_type = 'FlexibleRunner'
strategy = dict(
    type='DeepSpeedStrategy',
    train_micro_batch_size_per_gpu='auto',
    gradient_accumulation_steps='auto',
    gradient_clipping='auto',
    fp16=dict(enabled='auto', initial_scale_power=16),
    bf16=dict(enabled='auto'),
    zero_optimization=dict(stage=3, overlap_comm=True, contiguous_gradients=True,
                           stage3_gather_16bit_weights_on_model_save=True),
    config=dict(zero_allow_untested_optimizer=True, zero_force_ds_cpu_optimizer=False),
)
