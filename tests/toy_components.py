"""A toy model, dataset and metric for testing the training/testing CLIs without the SAMA model."""
import torch
from mmengine.dataset import BaseDataset
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel


class ToyRegressionDataset(BaseDataset):
    """``y = 3x + 1`` samples with a fixed seed."""

    def __init__(self, num_samples: int = 32, **kwargs):
        self.num_samples = num_samples
        super().__init__(serialize_data=False, **kwargs)

    def load_data_list(self):
        gen = torch.Generator().manual_seed(0)
        xs = torch.rand(self.num_samples, 1, generator=gen)
        return [dict(inputs=x, target=3 * x + 1) for x in xs]


class ToyRegressor(BaseModel):
    """A linear layer trained with MSE; ``predict`` returns the absolute errors."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)

    def forward(self, inputs, target=None, mode='tensor', **kwargs):
        inputs = torch.stack(inputs) if isinstance(inputs, list) else inputs
        out = self.linear(inputs)
        if mode == 'loss':
            target = torch.stack(target) if isinstance(target, list) else target
            return dict(loss=torch.nn.functional.mse_loss(out, target))
        if mode == 'predict':
            target = torch.stack(target) if isinstance(target, list) else target
            return [dict(abs_error=float(e)) for e in (out - target).abs().flatten()]
        return out


class ToyMAE(BaseMetric):
    """Mean absolute error of ``ToyRegressor`` predictions."""

    def process(self, data_batch, data_samples):
        self.results += [s['abs_error'] for s in data_samples]

    def compute_metrics(self, results):
        return dict(mae=sum(results) / len(results))
