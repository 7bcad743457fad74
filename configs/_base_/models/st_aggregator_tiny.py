# A tiny STAggregator for tests and CPU demos (random weights). Pairs with
# `build_qformer_tokenizer(tiny=True)`: 120 WordPiece entries + 8 specials = 128, `<mask>` 121, `<pos>` 122.
# The region masks keep the released 16x16 token grid and 112x112 shape mask (12544-d MLP input).
# `llm_hidden_size` is filled by the model config from its (tiny) LLM.
from sama_mm.models.necks import STAggregator

neck = dict(
    type=STAggregator,
    llm_hidden_size=None,
    qformer_hidden_size=32,
    num_attention_heads=2,
    intermediate_size=64,
    vision_width=48,
    spatial_num_layers=2,
    spatial_cross_attention_freq=2,
    spatial_num_queries=4,
    temporal_num_layers=1,
    temporal_cross_attention_freq=1,
    temporal_num_queries=4,
    temporal_vocab_size=128,
    max_position_embeddings=512,
    region_token_id=121,
    box_token_id=122,
    region_mask_size=112,
    region_mlp_hidden=16,
    window_size=8,  # 2 frames x 4 queries
    stride=8)
