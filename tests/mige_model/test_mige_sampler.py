"""MIGE's sampler against independent numpy float64 computations: schedule, time grid, the DPM-Solver++(2M)
recursion, convergence on a Gaussian whose probability-flow ODE is solved exactly, and guidance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mige_model.sampler import (
    DiscreteVPSchedule,
    dpm_solver_pp_2m,
    guide_edit,
    guide_subject,
    noise_part,
    split_branches,
)

N = 1000
BETAS = np.linspace(1e-4, 0.02, N)
GRID = np.arange(1, N + 1) / N
LOG_ALPHA_GRID = 0.5 * np.cumsum(np.log1p(-BETAS))


def log_alpha(t):
    return np.interp(t, GRID, LOG_ALPHA_GRID)


def alpha(t):
    return np.exp(log_alpha(t))


def sigma(t):
    return np.sqrt(-np.expm1(2 * log_alpha(t)))


def lam(t):
    return np.log(alpha(t)) - np.log(sigma(t))


def reference_sample(x, steps, eps_fn):
    """DPM-Solver++ multistep order 2 ('dpmsolver' form), written out step by step in float64."""
    times = np.linspace(1.0, 1.0 / N, steps + 1)

    def data_prediction(x_t, t):
        return (x_t - sigma(t) * eps_fn(x_t, (t - 1.0 / N) * 1000.0)) / alpha(t)

    models = [data_prediction(x, times[0])]
    for i in range(1, steps + 1):
        s0, t = times[i - 1], times[i]
        h = lam(t) - lam(s0)
        phi = np.expm1(-h)
        x_next = sigma(t) / sigma(s0) * x - alpha(t) * phi * models[-1]
        second_order = i >= 2 and not (steps < 10 and i == steps)
        if second_order:
            r = (lam(s0) - lam(times[i - 2])) / h
            x_next = x_next - 0.5 * alpha(t) * phi * (models[-1] - models[-2]) / r
        x = x_next
        if i < steps:
            models.append(data_prediction(x, t))
    return x


def linear_eps(x, t_input):
    """A deterministic fake network, linear in x with time-dependent coefficients."""
    return (0.3 + 0.2 * np.sin(t_input / 300.0)) * x + 0.1 * np.cos(t_input / 200.0)


def torch_model(eps_fn):
    def model_fn(x, t_input):
        return torch.as_tensor(eps_fn(x.double().numpy(), t_input)).to(x.dtype)

    return model_fn


# --- (1) schedule ------------------------------------------------------------------------------

MIDPOINTS = (GRID[:-1] + GRID[1:]) / 2
SAMPLE_TIMES = np.concatenate([GRID, MIDPOINTS, np.random.default_rng(0).uniform(1e-3, 1, 500)])


def test_schedule_matches_numpy_float64_on_and_between_grid_points():
    schedule = DiscreteVPSchedule(dtype=torch.float64)
    t = torch.from_numpy(SAMPLE_TIMES)
    log_alpha_t = schedule.marginal_log_mean_coeff(t).numpy()
    np.testing.assert_allclose(log_alpha_t, log_alpha(SAMPLE_TIMES), rtol=1e-12)
    np.testing.assert_allclose(schedule.marginal_alpha(t).numpy(), alpha(SAMPLE_TIMES), rtol=1e-12)
    np.testing.assert_allclose(schedule.marginal_std(t).numpy(), sigma(SAMPLE_TIMES), rtol=1e-12)
    lambda_t = schedule.marginal_lambda(t).numpy()
    np.testing.assert_allclose(lambda_t, lam(SAMPLE_TIMES), rtol=1e-10, atol=1e-12)


def test_default_schedule_is_float32_and_close_to_float64():
    schedule = DiscreteVPSchedule()
    t = torch.from_numpy(SAMPLE_TIMES).float()
    values = schedule.marginal_lambda(t)
    assert values.dtype == torch.float32
    # Near t = 1/N, 1 − α² ≈ 1e-4 is computed by cancellation in float32 (as the reference does): ~1e-4.
    np.testing.assert_allclose(values.double().numpy(), lam(t.double().numpy()), atol=2e-4)


def test_log_snr_stays_above_the_reference_clip():
    """DPM-Solver clips λ at −5.1 for unstable schedules; this one never reaches it, so no clipping exists."""
    assert lam(1.0) > -5.1
    lambda_end = DiscreteVPSchedule().marginal_lambda(torch.tensor([1.0])).item()
    assert lambda_end == pytest.approx(lam(1.0), abs=1e-5)


def test_schedule_rejects_a_too_short_training_schedule():
    with pytest.raises(ValueError, match="train_steps must be at least 2, got 1"):
        DiscreteVPSchedule(train_steps=1)


# --- (2) time grid and evaluations -------------------------------------------------------------


@pytest.mark.parametrize("steps", [1, 2, 5, 50])
def test_time_grid_and_network_times(steps):
    schedule = DiscreteVPSchedule()
    expected_times = np.linspace(1, 1 / N, steps + 1)
    np.testing.assert_allclose(schedule.time_steps(steps).numpy(), expected_times, atol=1e-6)
    seen: list[float] = []

    def model_fn(x, t_input):
        assert isinstance(t_input, float)
        seen.append(t_input)
        return torch.zeros_like(x)

    dpm_solver_pp_2m(model_fn, torch.randn(1, 4, 2, 2), steps=steps)
    assert len(seen) == steps
    assert seen[0] == 999.0
    np.testing.assert_allclose(seen, (expected_times[:-1] - 1 / N) * 1000, atol=1e-3)
    if steps == 50:
        assert seen[-1] == pytest.approx(19.98, abs=1e-3)  # t_49 = 1 − 49·0.999/50


# --- (3) the 2M recursion ----------------------------------------------------------------------


@pytest.mark.parametrize("steps", [1, 2, 3, 5, 9, 10, 25])
def test_recursion_matches_numpy_reference_in_float64(steps):
    torch.manual_seed(steps)
    x = torch.randn(2, 4, 3, 3, dtype=torch.float64)
    schedule = DiscreteVPSchedule(dtype=torch.float64)
    ours = dpm_solver_pp_2m(torch_model(linear_eps), x, steps=steps, schedule=schedule)
    reference = reference_sample(x.numpy(), steps, linear_eps)
    assert ours.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), reference, rtol=1e-10, atol=1e-10)


def test_float32_default_path_is_close_to_the_float64_reference():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 3, 3)
    ours = dpm_solver_pp_2m(torch_model(linear_eps), x, steps=20)
    assert ours.dtype == torch.float32
    reference = reference_sample(x.double().numpy(), 20, linear_eps)
    np.testing.assert_allclose(ours.double().numpy(), reference, atol=1e-4)


def test_bf16_noise_keeps_a_float32_state():
    """As in the reference, float32 coefficients promote a bf16 network answer: the state stays float32."""

    def model_fn(x, t_input):
        return (0.5 * x).to(torch.bfloat16)

    assert dpm_solver_pp_2m(model_fn, torch.randn(1, 4, 2, 2), steps=3).dtype == torch.float32


# --- (4) convergence on a Gaussian -------------------------------------------------------------

# A wide data distribution: the data prediction then saturates (α_t s ≫ σ_t) before the long last steps
# of the time-uniform grid, where a narrow one would still be changing and need many more steps.
MU, STD = 1.5, 2.0


def gaussian_eps(x, t_input):
    """E[ε | x_t] for data N(μ, s²): σ_t (x − α_t μ) / (α_t² s² + σ_t²)."""
    t = t_input / 1000.0 + 1.0 / N
    return sigma(t) * (x - alpha(t) * MU) / (alpha(t) ** 2 * STD**2 + sigma(t) ** 2)


def exact_flow(x_start):
    """The probability-flow ODE keeps (x − α_t μ)/√(α_t² s² + σ_t²) fixed, from t = 1 to t = 1/N."""
    spread = lambda t: np.sqrt(alpha(t) ** 2 * STD**2 + sigma(t) ** 2)  # noqa: E731
    return alpha(1 / N) * MU + spread(1 / N) * (x_start - alpha(1.0) * MU) / spread(1.0)


def test_error_decreases_at_second_order():
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)
    exact = exact_flow(x.numpy())
    schedule = DiscreteVPSchedule(dtype=torch.float64)
    errors = []
    for steps in (10, 20, 40):
        solution = dpm_solver_pp_2m(torch_model(gaussian_eps), x, steps=steps, schedule=schedule)
        errors.append(np.abs(solution.numpy() - exact).max())
    assert errors[0] > errors[1] > errors[2]
    assert errors[0] / errors[1] > 3 and errors[1] / errors[2] > 3


# --- (5) guidance ------------------------------------------------------------------------------


def test_guide_subject_hand_values():
    null, text = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 0.0])
    torch.testing.assert_close(guide_subject(null, text, text_scale=7.0), torch.tensor([15.0, 12.0]))


def test_guide_edit_hand_values():
    nn_, ns_, ys_ = torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([4.0])
    # 1 + 1.5·(2 − 1) + 5·(4 − 2) = 12.5
    guided = guide_edit(nn_, ns_, ys_, text_scale=5.0, source_scale=1.5)
    torch.testing.assert_close(guided, torch.tensor([12.5]))


def test_guide_edit_with_unit_source_scale_is_text_guidance_around_the_source_branch():
    torch.manual_seed(0)
    nn_, ns_, ys_ = (torch.randn(2, 4, 3, 3, dtype=torch.float64) for _ in range(3))
    torch.testing.assert_close(guide_edit(nn_, ns_, ys_, text_scale=5.0, source_scale=1.0), ns_ + 5.0 * (ys_ - ns_))


def test_guidance_rejects_branches_of_different_shapes():
    with pytest.raises(ValueError, match=r"guide_subject: .* eps_null \(2,\), eps_text \(3,\)"):
        guide_subject(torch.zeros(2), torch.zeros(3), text_scale=7.0)
    three = torch.zeros(1, 3), torch.zeros(1, 3), torch.zeros(1, 4)
    with pytest.raises(ValueError, match=r"guide_edit: .* eps_text_source \(1, 4\)"):
        guide_edit(*three, text_scale=5.0, source_scale=1.0)


def test_split_branches_takes_blocks_and_noise_channels():
    output = torch.arange(6 * 8 * 2 * 2, dtype=torch.float32).reshape(6, 8, 2, 2)
    null, source, text = split_branches(output, 3)
    torch.testing.assert_close(null, output[0:2, :4])
    torch.testing.assert_close(source, output[2:4, :4])
    torch.testing.assert_close(text, output[4:6, :4])
    torch.testing.assert_close(noise_part(output), output[:, :4])


def test_split_branches_and_noise_part_reject_bad_outputs():
    with pytest.raises(ValueError, match="a batch of 5 cannot hold 3 equal guidance branches"):
        split_branches(torch.zeros(5, 8, 2, 2), 3)
    with pytest.raises(ValueError, match="a batch of 2 cannot hold 0 equal guidance branches"):
        split_branches(torch.zeros(2, 8, 2, 2), 0)
    with pytest.raises(ValueError, match=r"noise_part: .*channels ≥ 4.*got \(2, 3, 2, 2\)"):
        noise_part(torch.zeros(2, 3, 2, 2))


# --- (6) bad inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [0, -1, 2.0, True])
def test_sampler_rejects_bad_step_counts(steps):
    with pytest.raises(ValueError, match=f"steps must be a positive integer, got {steps!r}"):
        dpm_solver_pp_2m(lambda x, t: x, torch.zeros(1, 4, 2, 2), steps=steps)


def test_sampler_rejects_a_noise_prediction_of_the_wrong_shape():
    message = r"model_fn returned shape \(1, 8, 2, 2\) for a state of shape \(1, 4, 2, 2\)"
    with pytest.raises(ValueError, match=message):
        dpm_solver_pp_2m(lambda x, t: torch.cat([x, x], dim=1), torch.zeros(1, 4, 2, 2), steps=2)
