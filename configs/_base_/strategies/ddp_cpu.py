# MMEngine DDP without GPUs (tests, debugging on a laptop): the gloo backend and a CPU DistributedDataParallel.
# tools/train.py applies the same settings by itself when it is launched distributed on a machine without CUDA.
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))
# device_ids=None: a CPU module (MMEngine passes [LOCAL_RANK] otherwise, which only GPU modules accept).
# find_unused_parameters: SAMA's region modules get no gradient on batches without region prompts.
model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None, find_unused_parameters=True)
