"""A tiny SAMA model (with the context aggregator) taught a short region-prompt conversation, for the web demo tests."""
import torch

from sama_mm.apis import SAMAInferencer
from sama_mm.datasets.transforms.tokenize import ChatTokenize
from sama_mm.structures.tokens import REGION_PLACEHOLDER, SEG_TOKEN
from tests.apis.helpers import SAMA_TINY_CONFIG, fit_llm


def build_sama_tiny(seed: int = 0, **settings) -> SAMAInferencer:
    """The demo config's tiny SAMA (context aggregator + SAM2 head) with seeded random weights."""
    from mmengine.config import Config

    from sama_mm.registry import MODELS
    from sama_mm.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(seed)
    cfg = Config.fromfile(SAMA_TINY_CONFIG)
    return SAMAInferencer.from_model(MODELS.build(cfg.model).eval(), cfg, **settings)


def overfit_region_chat(inferencer: SAMAInferencer, video: str, rounds, max_steps: int = 120, lr: float = 6e-3):
    """Teach the LLM a conversation about ``video`` whose questions may carry region prompts.

    The conversation is tokenized as training does (``ChatTokenize`` with the aggregator's context tokens) and the
    ``<IMG_CONTEXT>`` slots are filled as a chat session fills them: the dense frames' tokens, then per round the
    aggregator's output for its question and regions. Only the LLM learns (LM loss on the answers).

    Args:
        rounds: ``[(question, regions, answer), ...]``; ``regions`` as for ``ChatSession.ask``.
    """
    model = inferencer.model
    backbone = model.backbone
    s = inferencer.settings
    session = inferencer.open(video)
    tokenize = ChatTokenize(tokenizer=backbone.tokenizer, template=backbone.template.name,
                            num_image_tokens=s['num_image_tokens'], context_tokens=s['context_tokens'],
                            context_sep=s['context_sep'], max_length=4096)
    sample = tokenize(dict(rounds=[dict(question=q, answer=a, gt_keys=['o'] * a.count(SEG_TOKEN),
                                        region_keys=['r'] * q.count(REGION_PLACEHOLDER)) for q, _, a in rounds],
                           frame_indices=session.frame_indices, dense_positions=session.dense_positions,
                           video_id='train'))
    ids = torch.tensor([sample['input_ids']])
    labels = torch.tensor([sample['labels']])
    with torch.no_grad():
        turns = [session.turn_context(session, q, list(regions or [])) for q, regions, _ in rounds]
        fill = torch.cat([session.visual[session.dense_positions].flatten(0, 1), model.neck(session.visual, turns)])
    slots = (ids == backbone.img_context_token_id)[..., None]
    return fit_llm(model, lambda: backbone.get_input_embeddings()(ids).masked_scatter(slots, fill.to(torch.float32)),
            labels, max_steps, lr)
