# SAMA's spatio-temporal context aggregator (STAggregator), full size as released.
# `llm_hidden_size` is left None on purpose: the model config fills it from its LLM (896 / 2048 / 4096 for
# SAMA-1B / 4B / 8B), e.g. `neck=dict(_base_.neck, llm_hidden_size=896)`; building with None raises.
# The Q-Former tokenizer that produces `qformer_input_ids` is `build_qformer_tokenizer(<local bert-base-uncased
# vocab.txt>)` (30530 entries); `region_token_id` / `box_token_id` are its `<mask>` / `<pos>` ids.
from sama_mm.models.necks import STAggregator

neck = dict(
    type=STAggregator,
    llm_hidden_size=None,
    qformer_hidden_size=768,
    num_attention_heads=12,
    intermediate_size=3072,
    vision_width=1408,
    spatial_num_layers=12,
    spatial_cross_attention_freq=2,
    spatial_num_queries=32,
    temporal_num_layers=2,
    temporal_cross_attention_freq=1,
    temporal_num_queries=32,
    temporal_vocab_size=30530,
    max_position_embeddings=512,
    region_token_id=30523,
    box_token_id=30524,
    region_mask_size=112,
    region_mlp_hidden=1024,
    window_size=512,  # tokens of the flattened spatial Q-Former output: 16 frames x 32 queries
    stride=512)
