"""MIGE's sampler: continuous-time multistep DPM-Solver++ (order 2) on the discrete linear-beta schedule.

The released images come from DPM-Solver's own PyTorch code (``NoiseScheduleVP('discrete')`` and
``DPM_Solver(algorithm_type="dpmsolver++")``, method ``multistep``, order 2, ``time_uniform``), not from a
diffusers scheduler, which rounds the time grid to integers and finishes differently. This module
re-implements that path and nothing else (docs/mige_model.md):

* schedule: β linear from 1e-4 to 0.02 over N = 1000 steps; log α_n = ½ Σ_{i≤n} log(1 − β_i) on the grid
  t_n = n/N, and log α(t) piecewise-linear in t between grid points; σ_t = √(1 − α_t²),
  λ_t = log α_t − log σ_t (half log-SNR);
* time steps t_k = linspace(1, 1/N, steps + 1); the network sees t_input = (t − 1/N)·1000 (999.0 first);
* data prediction x̂₀ = (x − σ_t ε̂) / α_t, and with h = λ_t − λ_s, φ = expm1(−h):
  first order  x_t = (σ_t/σ_s) x − α_t φ x̂₀(s);
  second order x_t = (σ_t/σ_{s0}) x − α_t φ m₀ − ½ α_t φ D, D = (m₀ − m₁)/r, r = h₀/h, h₀ = λ_{s0} − λ_{s1}
  (the "dpmsolver" midpoint form); first step first order, the last step first order only below 10 steps,
  no final denoise-to-zero step, so exactly ``steps`` network evaluations.

Precision, as the reference does it: the schedule tables are built in float64 and stored as float32;
times, α, σ, λ and every coefficient are float32 tensors of shape (1,), so they take part in type
promotion and the state stays float32 even when the network answers in bf16. ``dtype=torch.float64``
on :class:`DiscreteVPSchedule` gives a float64 path for tests. On CPU, the schedule and whole sampling
runs match DPM-Solver's code bit for bit (checked against it for 2 to 60 steps with bf16 network answers).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

TRAIN_STEPS = 1000
BETA_START = 1e-4
BETA_END = 0.02
#: Network evaluations per image in the authors' scripts.
SUBJECT_STEPS = 50
EDIT_STEPS = 60
#: Guidance scales in the authors' scripts: s_y for the instruction, s_s for the source image.
SUBJECT_TEXT_SCALE = 7.0
EDIT_TEXT_SCALE = 5.0
EDIT_SOURCE_SCALE = 1.0
#: Below this many steps the last update falls back to first order (DPM-Solver's ``lower_order_final``).
_LOWER_ORDER_FINAL_BELOW = 10

NoiseModel = Callable[[Tensor, float], Tensor]


class DiscreteVPSchedule:
    """The linear-beta DDPM schedule seen as a continuous-time VP process on t ∈ [1/N, 1]."""

    def __init__(
        self,
        *,
        train_steps: int = TRAIN_STEPS,
        beta_start: float = BETA_START,
        beta_end: float = BETA_END,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if train_steps < 2:
            raise ValueError(f"DiscreteVPSchedule: train_steps must be at least 2, got {train_steps}")
        betas = torch.from_numpy(np.linspace(beta_start, beta_end, train_steps, dtype=np.float64))
        self.train_steps = train_steps
        self.dtype = dtype
        self.log_alpha_grid = (0.5 * torch.log(1.0 - betas).cumsum(dim=0)).to(dtype)
        self.t_grid = torch.linspace(0.0, 1.0, train_steps + 1, dtype=dtype)[1:]

    def marginal_log_mean_coeff(self, t: Tensor) -> Tensor:
        """log α(t), linear in t between grid points (and beyond the ends, along the end segments).

        y = y_k + (t − t_k)·(y_{k+1} − y_k)/(t_{k+1} − t_k), with k the segment to the left of t; a time
        exactly on a grid point takes the segment ending there, as DPM-Solver's ``interpolate_fn`` does
        with a stable sort.
        """
        t = torch.as_tensor(t, dtype=self.dtype)
        right = torch.searchsorted(self.t_grid, t.contiguous(), right=False)
        k = (right - 1).clamp(0, self.train_steps - 2)
        t_k, t_next = self.t_grid[k], self.t_grid[k + 1]
        y_k, y_next = self.log_alpha_grid[k], self.log_alpha_grid[k + 1]
        return y_k + (t - t_k) * (y_next - y_k) / (t_next - t_k)

    def marginal_alpha(self, t: Tensor) -> Tensor:
        return torch.exp(self.marginal_log_mean_coeff(t))

    def marginal_std(self, t: Tensor) -> Tensor:
        """σ_t = √(1 − α_t²)."""
        return torch.sqrt(1.0 - torch.exp(2.0 * self.marginal_log_mean_coeff(t)))

    def marginal_lambda(self, t: Tensor) -> Tensor:
        """λ_t = log α_t − ½ log(1 − α_t²)."""
        log_alpha = self.marginal_log_mean_coeff(t)
        return log_alpha - 0.5 * torch.log(1.0 - torch.exp(2.0 * log_alpha))

    def time_steps(self, steps: int) -> Tensor:
        """The ``steps + 1`` times t_k = linspace(1, 1/N, steps + 1), uniform in continuous time."""
        return torch.linspace(1.0, 1.0 / self.train_steps, steps + 1, dtype=self.dtype)

    def model_time(self, t: Tensor) -> Tensor:
        """The network's timestep input (t − 1/N)·1000: the trained integer steps 0…999, as a float."""
        return (t - 1.0 / self.train_steps) * 1000.0


def dpm_solver_pp_2m(
    model_fn: NoiseModel, x: Tensor, *, steps: int, schedule: DiscreteVPSchedule | None = None
) -> Tensor:
    """Solve the probability-flow ODE from t = 1 to t = 1/N with multistep DPM-Solver++ (order 2).

    ``model_fn(x, t_input)`` returns the (guided) noise prediction ε̂ for the state ``x`` at network time
    ``t_input``; it is called exactly ``steps`` times, at t_0 … t_{steps−1}. ``t_input`` is a Python float
    holding the schedule-dtype value exactly (999.0 first), so the caller can build the timestep tensor
    in any dtype as the reference would from its float32 one. ``x`` is the initial noise; each update is
    rounded back to ``x``'s dtype (a no-op for the authors' float32 noise) and the result is the latent
    at t = 1/N. ``steps=1``, which the reference refuses, takes one first-order step.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"dpm_solver_pp_2m: steps must be a positive integer, got {steps!r}")
    schedule = schedule or DiscreteVPSchedule()
    times = schedule.time_steps(steps).reshape(-1, 1)  # each time of shape (1,), as in the reference
    state_dtype = x.dtype

    def data_prediction(x_t: Tensor, t: Tensor) -> Tensor:
        t_input = float(schedule.model_time(t)[0])
        eps = model_fn(x_t, t_input)
        if eps.shape != x_t.shape:
            raise ValueError(
                f"dpm_solver_pp_2m: model_fn returned shape {tuple(eps.shape)} for a state of shape "
                f"{tuple(x_t.shape)}; it must return the noise prediction with the state's shape "
                "(guidance applied, noise channels only)"
            )
        alpha, sigma = schedule.marginal_alpha(t), schedule.marginal_std(t)
        return (x_t - sigma.to(x_t.device) * eps) / alpha.to(x_t.device)

    previous = [data_prediction(x, times[0])]  # x̂₀ at the last one or two times, oldest first
    previous_times = [times[0]]
    for step in range(1, steps + 1):
        t = times[step]
        order = 1 if step == 1 else 2
        if steps < _LOWER_ORDER_FINAL_BELOW:
            order = min(order, steps + 1 - step)
        if order == 1:
            x = _first_order_update(schedule, x, previous[-1], previous_times[-1], t)
        else:
            x = _second_order_update(schedule, x, previous, previous_times, t)
        x = x.to(state_dtype)
        if step < steps:
            previous = [previous[-1], data_prediction(x, t)]
            previous_times = [previous_times[-1], t]
    return x


def _first_order_update(schedule: DiscreteVPSchedule, x: Tensor, model_s: Tensor, s: Tensor, t: Tensor) -> Tensor:
    """x_t = (σ_t/σ_s)·x − (α_t·φ)·x̂₀(s), φ = expm1(−h), h = λ_t − λ_s (DDIM in data prediction)."""
    h = schedule.marginal_lambda(t) - schedule.marginal_lambda(s)
    sigma_s, sigma_t = schedule.marginal_std(s), schedule.marginal_std(t)
    alpha_t = torch.exp(schedule.marginal_log_mean_coeff(t))
    phi = torch.expm1(-h)
    return (sigma_t / sigma_s).to(x.device) * x - (alpha_t * phi).to(x.device) * model_s


def _second_order_update(
    schedule: DiscreteVPSchedule, x: Tensor, models: list[Tensor], times: list[Tensor], t: Tensor
) -> Tensor:
    """x_t = (σ_t/σ_{s0})·x − (α_t·φ)·m₀ − ½·(α_t·φ)·D, D = (1/r)·(m₀ − m₁), r = h₀/h."""
    (s1, s0), (m1, m0) = times, models
    lambda_s1, lambda_s0, lambda_t = (schedule.marginal_lambda(u) for u in (s1, s0, t))
    sigma_s0, sigma_t = schedule.marginal_std(s0), schedule.marginal_std(t)
    alpha_t = torch.exp(schedule.marginal_log_mean_coeff(t))
    h_previous, h = lambda_s0 - lambda_s1, lambda_t - lambda_s0
    r = h_previous / h
    difference = (1.0 / r).to(x.device) * (m0 - m1)
    alpha_phi = (alpha_t * torch.expm1(-h)).to(x.device)
    return (sigma_t / sigma_s0).to(x.device) * x - alpha_phi * m0 - 0.5 * alpha_phi * difference


def guide_subject(eps_null: Tensor, eps_text: Tensor, *, text_scale: float) -> Tensor:
    """Classifier-free guidance over two branches: ε = ε(∅) + s_y·(ε(y) − ε(∅)).

    Computed in the branches' dtype and in this order, as the authors' wrapper does (bf16 there).
    """
    _require_same_shape("guide_subject", eps_null=eps_null, eps_text=eps_text)
    return eps_null + text_scale * (eps_text - eps_null)


def guide_edit(
    eps_null_null: Tensor,
    eps_null_source: Tensor,
    eps_text_source: Tensor,
    *,
    text_scale: float,
    source_scale: float,
) -> Tensor:
    """Guidance over three branches: ε = ε(∅,∅) + s_s·(ε(∅,src) − ε(∅,∅)) + s_y·(ε(y,src) − ε(∅,src)).

    The scale s_s = 1 is applied, not skipped: in bf16, ε(∅,∅) + 1·(ε(∅,src) − ε(∅,∅)) need not round
    back to ε(∅,src), and the released images include that rounding.
    """
    _require_same_shape(
        "guide_edit",
        eps_null_null=eps_null_null,
        eps_null_source=eps_null_source,
        eps_text_source=eps_text_source,
    )
    return (
        eps_null_null
        + source_scale * (eps_null_source - eps_null_null)
        + text_scale * (eps_text_source - eps_null_source)
    )


def noise_part(output: Tensor, channels: int = 4) -> Tensor:
    """The noise prediction: the first ``channels`` channels of the DiT output (the rest is variance)."""
    if output.dim() < 2 or output.shape[1] < channels:
        raise ValueError(
            f"noise_part: expected a network output of shape (batch, channels ≥ {channels}, ...), "
            f"got {tuple(output.shape)}"
        )
    return output[:, :channels]


def split_branches(output: Tensor, branches: int, *, channels: int = 4) -> tuple[Tensor, ...]:
    """Undo the guidance batching: the output of one batch holding ``branches`` equal blocks, in order.

    The branches are stacked block-wise along the batch (all samples of branch 0, then of branch 1, …),
    so ``torch.chunk`` recovers them; each keeps only its noise channels.
    """
    if branches < 1 or output.dim() < 1 or output.shape[0] % branches:
        raise ValueError(
            f"split_branches: a batch of {output.shape[0] if output.dim() else 0} cannot hold "
            f"{branches} equal guidance branches; pass the batched output of all branches together"
        )
    return tuple(noise_part(block, channels) for block in output.chunk(branches, dim=0))


def _require_same_shape(caller: str, **branches: Tensor) -> None:
    shapes = {name: tuple(value.shape) for name, value in branches.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"{caller}: the guidance branches must have one shape, got {listed}")
