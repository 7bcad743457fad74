# PyTorch FSDP (full sharding: parameters, gradients and optimizer states, like ZeRO-3) through MMEngine's
# FlexibleRunner + FSDPStrategy. use_orig_params lets frozen (ViT/LLM) and trained parameters share a shard;
# with a bf16 AmpOptimWrapper, tools/train.py switches its gradient scaler to the sharded one.
runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(type='MMFullyShardedDataParallel', use_orig_params=True, sharding_strategy='FULL_SHARD'),
    # 'full': rank 0 writes one ordinary checkpoint (loadable without FSDP); 'local' writes a shard per rank.
    state_dict_cfg='full',
)
