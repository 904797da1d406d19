"""A stacked, bidirectional GRU that forecasts the next ``horizon`` target values at once.

Data flow for one batch (shapes; L = lookback, H = horizon, F = features, D = 2 if bidirectional):

    x (B, L, F), column 0 the target in units
      -> per-window normalisation of column 0 (loc = last value, scale = the lookback's spread,
         by level or by one-step changes; see normalize)     z_hist (B, L)
      -> anchor: z_hist @ A.T, a fixed (H, L) map (naive, seasonal naive or drift; see anchor)
      -> GRU (num_layers, dropout between layers)             out (B, L, D * hidden)
      -> [forward state at the last step, backward state at the last step, backward final state]
                                                              s (B, W), W = hidden * (3 or 1)
      -> Linear -> (B, H)  +  Linear skip path on z_hist (B, L) -> (B, H): the learned correction
      [+ the known-ahead decoder, when the windows carry K inputs known ahead, future (B, H, K):
         gate: Linear(W -> K) per window, summed with each step's inputs    (B, H)
         step MLP: [s ; future_h] (W + K) -> Linear -> GELU -> Linear -> 1, shared by every step h
       so each step's output depends on that step's own known inputs, weighted by what the
       lookback says (e.g. how strongly the target follows a planned price). A column in the
       target's units (a weather forecast of the target) is also read normalised like the
       target, (value - loc) / scale: K_t more inputs, so the gate can pass it through as z]
      -> z = anchor + blend * correction (B, H) dimensionless -> z * scale + loc -> forecast in units

The loss is the MSE of ``z`` (normalised space), so windows at any price level weigh alike; the
validation MAE and RMSE are logged in the series' own units (under DDP summed over every process's
share of the windows first, so each process logs the whole split's values). The correction starts
at zero (head, skip, the gate and the step MLP's output layer initialised to zero), so an untrained
model *is* its anchor and training
learns the residual over it; weight decay pulls towards the anchor, not away from it. ``blend``
(a buffer, 1 while training) shrinks the correction after training when validation says a partial
step is better.

This module knows nothing about where data comes from (``models`` never imports ``data``).
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch import nn
from torch.nn import functional as F

from forecaster.models import NAME  # noqa: F401  (the model's own name, re-exported)
from forecaster.models.anchor import anchor_matrix
from forecaster.models.normalize import SCALE_MODES, denormalise, normalise, window_stats


class GRURegressor(pl.LightningModule):
    """Bidirectional GRU regressor over raw-unit windows; self-contained (normalisation inside).

    n_features: F, the width of ``x``; lookback: L steps; horizon: H steps (of the series' frequency).
    scale: how each window's spread is measured (``level`` or ``diff``, see normalize); anchor and
    season: the forecast an untrained model makes (see anchor); n_members and member_embedding: a
    learned vector per member of a group, appended to the inputs (0: none).
    """

    def __init__(
        self,
        n_features: int,
        lookback: int,
        horizon: int,
        hidden_size: int = 64,
        num_layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.1,
        learning_rate: float = 2e-3,
        weight_decay: float = 1e-4,
        scale: str = "level",
        anchor: str = "naive",
        season: int = 1,
        n_members: int = 0,
        member_embedding: int = 0,
        n_known: int = 0,
        known_hidden: int = 32,
        target_like: tuple[tuple[int, float, float], ...] = (),
    ):
        super().__init__()
        if min(n_features, lookback, horizon, hidden_size, num_layers) < 1:
            raise ValueError(
                "n_features, lookback, horizon, hidden_size and num_layers must be >= 1"
            )
        if scale not in SCALE_MODES:
            raise ValueError(f"scale must be one of {SCALE_MODES}, got {scale!r}")
        self.save_hyperparameters()
        # A global model over a group can learn one vector per member, fed at every time step.
        self.embed = (
            nn.Embedding(n_members, member_embedding)
            if n_members > 0 and member_embedding > 0
            else None
        )
        self.gru = nn.GRU(
            input_size=n_features + (member_embedding if self.embed is not None else 0),
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        width = hidden_size * (3 if bidirectional else 1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(width, horizon)
        self.skip = nn.Linear(lookback, horizon)
        zeroed = [self.head, self.skip]
        self.known_gate = self.known_mlp = None
        # known-ahead columns in the target's units (a forecast of the target): (column, mean, std)
        like = torch.tensor([list(t) for t in target_like], dtype=torch.float32).reshape(-1, 3)
        self.register_buffer("target_like", like)
        if n_known > 0:  # the decoder of inputs known ahead (see the module docstring)
            inputs = n_known + len(like)
            self.known_gate = nn.Linear(width, inputs)
            self.known_mlp = nn.Sequential(
                nn.Linear(width + inputs, known_hidden), nn.GELU(), nn.Linear(known_hidden, 1)
            )
            zeroed += [self.known_gate, self.known_mlp[2]]
        # The learned correction starts at zero: an untrained model forecasts as its anchor.
        for layer in zeroed:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.register_buffer("anchor_map", anchor_matrix(anchor, lookback, horizon, season))
        self.register_buffer("blend", torch.ones(()))
        self._val_sums = [0.0, 0.0, 0]  # sum |err|, sum err^2 (units), count: one validation epoch

    # -- network ----------------------------------------------------------------------------------
    def forward_normalised(
        self,
        x: torch.Tensor,
        member: torch.Tensor | None = None,
        future: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``z`` (B, H) dimensionless, and the window's ``loc``, ``scale`` (B, 1) in units.

        x: (batch, lookback, n_features) float32, column 0 the target in units. member: (batch,)
        int64 member ids of a group model with an embedding (None: the members' mean vector,
        for a series outside the group). future: (batch, horizon, n_known) float32, the inputs
        known ahead of each forecast step (required when ``n_known`` > 0).
        """
        base, target, loc, scale = self._anchor(x)
        z = torch.cat([target.unsqueeze(-1).to(x.dtype), x[:, :, 1:]], dim=-1)
        if self.embed is not None:
            e = (
                self.embed(member)
                if member is not None
                else self.embed.weight.mean(0).expand(len(x), -1)
            )
            z = torch.cat([z, e.unsqueeze(1).expand(-1, z.shape[1], -1).to(z.dtype)], dim=-1)
        out, _ = self.gru(z)  # (B, L, D * hidden)
        last = out[:, -1]
        if self.hparams.bidirectional:
            last = torch.cat([last, out[:, 0, self.hparams.hidden_size :]], dim=-1)
        state = self.dropout(last)
        correction = self.head(state) + self.skip(target)
        if self.known_gate is not None:
            correction = correction + self._known(state, self._relative(future, loc, scale))
        return base + self.blend * correction.float(), loc, scale

    def _relative(self, future, loc: torch.Tensor, scale: torch.Tensor):
        """``future`` (B, H, K) and, appended, its columns in the target's units normalised like
        the target's window, ``(value - loc) / scale``: a forecast of the target is then on the
        scale of ``z`` itself, whatever the window's level and spread. (B, H, K + K_t)."""
        if future is None or not len(self.target_like):
            return future
        col = self.target_like[:, 0].long()
        raw = future[..., col].float() * self.target_like[:, 2] + self.target_like[:, 1]
        rel = (raw - loc.unsqueeze(-1)) / scale.unsqueeze(-1)
        return torch.cat([future, rel.to(future.dtype)], dim=-1)

    def _known(self, state: torch.Tensor, future: torch.Tensor | None) -> torch.Tensor:
        """The known-ahead decoder's (B, H) share of the correction, from the encoder state
        (B, W) and each step's known inputs ``future`` (B, H, K)."""
        k = self.hparams.n_known + len(self.target_like)
        if future is None or future.shape[1:] != (self.hparams.horizon, k):
            got = None if future is None else tuple(future.shape)
            raise ValueError(f"this model reads inputs known ahead: future (B, H, {k}), got {got}")
        future = future.to(state.dtype)
        gated = (self.known_gate(state).unsqueeze(1) * future).sum(-1)  # (B, H)
        steps = torch.cat([state.unsqueeze(1).expand(-1, future.shape[1], -1), future], dim=-1)
        return gated + self.known_mlp(steps).squeeze(-1)

    def _anchor(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The anchor's forecast (B, H) in normalised units, the normalised target (B, L), and
        the window's ``loc``, ``scale`` (B, 1) in units, from x: (B, L, F)."""
        loc, scale = window_stats(x[:, :, 0], self.hparams.scale)
        target = normalise(x[:, :, 0], loc, scale)
        # The anchor stays in float32 under mixed precision: seasonal naive must copy values exactly.
        with torch.autocast(x.device.type, enabled=False):
            base = target.float() @ self.anchor_map.T
        return base, target, loc, scale

    def forward_anchor(self, x: torch.Tensor) -> torch.Tensor:
        """The anchor's forecast (B, H) in units, from x: (B, L, F) -- what an untrained model says."""
        base, _, loc, scale = self._anchor(x)
        return denormalise(base, loc, scale)

    def forward(
        self,
        x: torch.Tensor,
        member: torch.Tensor | None = None,
        future: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Forecast (batch, horizon) in target units from x: (batch, lookback, n_features) float32
        (for a group model with an embedding, the windows' member ids (batch,); for a model of
        inputs known ahead, their values at each step ``future`` (batch, horizon, n_known))."""
        z, loc, scale = self.forward_normalised(x, member, future)
        return denormalise(z, loc, scale)

    # -- training ---------------------------------------------------------------------------------
    def _loss(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # (x, y[, future][, member]): see forecaster.data.windows.WindowDataset
        x, y, *rest = batch
        future = rest.pop(0) if self.hparams.n_known else None
        z, loc, scale = self.forward_normalised(x, rest[0] if rest else None, future)
        loss = F.mse_loss(z, normalise(y.float(), loc, scale))
        return loss, denormalise(z, loc, scale), y

    # sync_dist: under DDP the epoch means are over every process's batches (one reduction at the
    # end of the epoch); on one device it changes nothing.
    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, _, _ = self._loss(batch)
        self.log(
            "train_loss",
            loss,
            on_step=False,
            on_epoch=True,
            batch_size=len(batch[0]),
            sync_dist=True,
        )
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_sums = [0.0, 0.0, 0]

    def validation_step(self, batch, batch_idx: int) -> None:
        loss, pred, y = self._loss(batch)
        err = pred - y.float()
        self._val_sums[0] += err.abs().sum().item()  # Python floats: exact enough, any device
        self._val_sums[1] += err.square().sum().item()
        self._val_sums[2] += err.numel()
        self.log(
            "val_loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=len(y),
            sync_dist=True,
        )

    def on_validation_epoch_end(self) -> None:
        abs_sum, sq_sum, n = self._val_sums
        if self.trainer.world_size > 1:  # each process validated its share: add up the sums
            sums = torch.tensor([abs_sum, sq_sum, n], dtype=torch.float64, device=self.device)
            abs_sum, sq_sum, n = self.trainer.strategy.reduce(sums, reduce_op="sum").tolist()
        if n > 0:  # the same value on every process: early stopping and keep-best agree
            self.log("val_mae", abs_sum / n, prog_bar=True)
            self.log("val_rmse", (sq_sum / n) ** 0.5)

    def configure_optimizers(self):
        opt = torch.optim.AdamW(
            self.parameters(), lr=self.hparams.learning_rate, weight_decay=self.hparams.weight_decay
        )
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": "val_mae"}}
