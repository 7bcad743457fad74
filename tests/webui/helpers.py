"""A tiny SAMA model (with the context aggregator) taught a short region-prompt conversation, for the web demo tests."""
import torch

from sama_mm.apis import SAMAInferencer
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

    The conversation is built by the chat session's test pipeline with every round closed (the input ids and the
    labels training would give it) and the ``<IMG_CONTEXT>`` slots are filled as a chat session fills them: the dense
    frames' tokens, then per round the aggregator's output for its question and regions. Only the LLM learns (LM
    loss on the answers).

    Args:
        rounds: ``[(question, regions, answer), ...]``; ``regions`` as for ``ChatSession.ask``.
    """
    model = inferencer.model
    session = inferencer.open(video)
    inputs, _ = session.model_inputs([dict(question=q, answer=a, regions=regions) for q, regions, a in rounds],
                                     generation=False)
    with torch.no_grad():
        fill = torch.cat([session.visual[session.dense_positions].flatten(0, 1),
                          model.neck(session.visual, inputs['neck_turns'][0])])
    ids = inputs['input_ids']
    return fit_llm(model, lambda: model.embed_turn(ids, fill.to(torch.float32)), inputs['labels'], max_steps, lr)
