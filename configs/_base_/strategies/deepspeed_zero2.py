# DeepSpeed ZeRO-2 on GPUs (the reference recipe's `--deepspeed deepspeed_zero2`): optimizer states and gradients
# sharded across ranks, parameters replicated. Add it to a leaf config's read_base() after the model/schedule
# bases. tools/train.py then trains with MMEngine's FlexibleRunner and fills the "auto" fields from the config's
# optim_wrapper (micro batch, accumulation, clipping, bf16/fp16), replacing it by DeepSpeedOptimWrapper.
runner_type = 'FlexibleRunner'
strategy = dict(
    type='DeepSpeedStrategy',
    train_micro_batch_size_per_gpu='auto',
    gradient_accumulation_steps='auto',
    gradient_clipping='auto',
    fp16=dict(enabled='auto', initial_scale_power=16),
    bf16=dict(enabled='auto'),
    zero_optimization=dict(stage=2, overlap_comm=True, contiguous_gradients=True),
    config=dict(zero_allow_untested_optimizer=True, zero_force_ds_cpu_optimizer=False),
)
