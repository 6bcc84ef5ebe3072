"""Episode rendering: drawn pixels, GIF/MP4 writing and recording a scripted episode."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from harness.envs.combat import render
from harness.envs.combat.render import (
    ATTACK_COLOURS,
    HEAL_COLOUR,
    SHIELD_COLOUR,
    TEAM_COLOURS,
    Viewport,
    draw_frame,
    map_bounds,
    render_frames,
)
from harness.envs.combat.render_frame import RenderFrame

SIZE = 240


def make_frame(step=0, alive=(True, True, True, True), targets=(-1, -1, -1, -1), shield=0.0,
               health=(45.0, 45.0, 45.0, 45.0)) -> RenderFrame:
    """Two agents (a marine and a medivac) facing two enemies (a marine and a stalker) on a 32x32 map."""
    positions = np.array([[8.0, 8.0], [8.0, 24.0], [24.0, 8.0], [24.0, 24.0]])  # [U, 2]
    return RenderFrame(
        map_size=(32.0, 32.0),
        positions=positions,
        health=np.array(health),
        max_health=np.full(4, 45.0),
        shield=np.array([0.0, 0.0, 0.0, shield]),
        max_shield=np.array([0.0, 0.0, 0.0, 80.0 if shield else 0.0]),
        team=np.array([0, 0, 1, 1]),
        unit_type=("marine", "medivac", "marine", "stalker"),
        radius=np.array([1.0, 1.0, 1.0, 1.0]),
        alive=np.array(alive),
        attack_target=np.array(targets),
        step=step,
    )


def pixel(image: Image.Image, xy) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=int)[int(round(xy[1])), int(round(xy[0]))]


def near(colour, expected, tolerance=40) -> bool:
    return bool(np.abs(np.asarray(colour) - np.asarray(expected)).max() <= tolerance)


def view_of(frame: RenderFrame) -> Viewport:
    return Viewport(map_bounds(frame), SIZE)


def below_centre(frame: RenderFrame, unit: int) -> tuple[float, float]:
    """A point inside unit's disc below its letter: 80% of the radius under the centre."""
    view = view_of(frame)
    x, y = view.point(frame.positions[unit])
    return x, y + 0.8 * frame.radius[unit] * view.scale


def test_gif_has_one_frame_per_step_at_requested_size(tmp_path):
    frames = [make_frame(step=t) for t in range(7)]
    path = render_frames(frames, tmp_path / "episode.gif", fps=10, size=SIZE, title="3m")
    assert path == tmp_path / "episode.gif"
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == 7
        assert gif.size == (SIZE, SIZE)
        assert gif.info["duration"] == 100
        assert all(f.size == (SIZE, SIZE) for f in ImageSequence.Iterator(gif))


def test_live_units_are_filled_with_their_team_colour(tmp_path):
    frame = make_frame()
    image = draw_frame(frame, size=SIZE, bounds=map_bounds(frame))
    assert near(pixel(image, below_centre(frame, 0)), TEAM_COLOURS[0])
    assert near(pixel(image, below_centre(frame, 2)), TEAM_COLOURS[1])


def test_dead_unit_is_drawn_differently_from_live_one(tmp_path):
    live, dead = make_frame(step=0), make_frame(step=1, alive=(True, True, False, True))
    path = render_frames([live, dead], tmp_path / "death.gif", size=SIZE, whole_map=True)
    with Image.open(path) as gif:
        images = [f.convert("RGB") for f in ImageSequence.Iterator(gif)]
    spot = below_centre(live, 2)
    assert near(pixel(images[0], spot), TEAM_COLOURS[1])
    assert not near(pixel(images[1], spot), TEAM_COLOURS[1], tolerance=80)
    assert pixel(images[1], spot).min() > 200  # faded: a light grey ring on the white arena


def test_dead_unit_has_no_health_bar():
    frame = make_frame(alive=(True, True, False, True))
    image = draw_frame(frame, size=SIZE, bounds=map_bounds(frame))
    view = view_of(frame)
    for unit, expect_bar in ((0, True), (2, False)):
        x, y = view.point(frame.positions[unit])
        bar = pixel(image, (x, y - frame.radius[unit] * view.scale - 5))
        assert near(bar, render.HEALTH_COLOUR) is expect_bar


def test_attack_line_joins_attacker_and_target():
    quiet = make_frame()
    attacking = make_frame(targets=(2, -1, -1, -1))  # agent 0 shoots enemy 2 along y = 8
    view = view_of(quiet)
    middle = (np.asarray(view.point(quiet.positions[0])) + view.point(quiet.positions[2])) / 2
    assert near(pixel(draw_frame(quiet, SIZE, bounds=map_bounds(quiet)), middle), render.ARENA, 5)
    assert near(pixel(draw_frame(attacking, SIZE, bounds=map_bounds(quiet)), middle), ATTACK_COLOURS[0], 10)


def test_heal_line_is_green_and_enemy_attacks_use_their_colour():
    frame = make_frame(targets=(-1, 0, 0, -1))  # medivac heals agent 0, enemy marine shoots agent 0
    image = draw_frame(frame, SIZE, bounds=map_bounds(frame))
    view = view_of(frame)
    heal_mid = (np.asarray(view.point(frame.positions[1])) + view.point(frame.positions[0])) / 2
    shot_mid = (np.asarray(view.point(frame.positions[2])) + view.point(frame.positions[0])) / 2
    assert near(pixel(image, heal_mid), HEAL_COLOUR, 10)
    assert near(pixel(image, shot_mid), ATTACK_COLOURS[1], 10)


def test_shield_bar_appears_only_for_shielded_units():
    frame = make_frame(shield=80.0)
    image = draw_frame(frame, SIZE, bounds=map_bounds(frame))
    view = view_of(frame)
    for unit, shielded in ((3, True), (2, False)):
        x, y = view.point(frame.positions[unit])
        spot = (x, y - frame.radius[unit] * view.scale - 9)
        assert near(pixel(image, spot), SHIELD_COLOUR) is shielded


def test_health_bar_is_filled_in_proportion_to_health():
    frame = make_frame(health=(45.0, 45.0, 45.0, 45.0 / 4))
    image = draw_frame(frame, SIZE, bounds=map_bounds(frame))
    view = view_of(frame)
    x, y = view.point(frame.positions[3])
    r, bar_y = frame.radius[3] * view.scale, y - frame.radius[3] * view.scale - 5
    assert near(pixel(image, (x - 0.8 * r, bar_y)), render.HEALTH_COLOUR)
    assert near(pixel(image, (x + 0.5 * r, bar_y)), render.BAR_BACK)


def test_default_camera_follows_the_units_not_the_whole_map(tmp_path):
    frames = [make_frame(step=t) for t in range(2)]
    zoomed = render_frames(frames, tmp_path / "zoom.gif", size=SIZE)
    whole = render_frames(frames, tmp_path / "map.gif", size=SIZE, whole_map=True)
    with Image.open(zoomed) as a, Image.open(whole) as b:
        blue = [int(np.all(np.abs(np.asarray(im.convert("RGB"), dtype=int) - TEAM_COLOURS[0]) < 30,
                           axis=-1).sum()) for im in (a, b)]
    assert blue[0] > blue[1] > 0  # the same units are drawn larger when the camera is fitted


@pytest.mark.parametrize("name", ["episode.png", "episode", "episode.avi"])
def test_unsupported_extension_is_a_clear_error(tmp_path, name):
    with pytest.raises(ValueError, match=r"unsupported extension.*allowed: \.gif, \.mp4"):
        render_frames([make_frame()], tmp_path / name)


def test_no_frames_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="at least one frame"):
        render_frames([], tmp_path / "empty.gif")


def test_mp4_without_ffmpeg_suggests_gif(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "find_ffmpeg", lambda: None)
    with pytest.raises(RuntimeError, match=r"ffmpeg.*\.gif"):
        render_frames([make_frame()], tmp_path / "episode.mp4")


FAKE_FFMPEG = """#!{python}
import sys
args = sys.argv[1:]
raw = sys.stdin.buffer.read()
width, height = map(int, args[args.index("-s") + 1].split("x"))
with open(args[-1], "w") as out:
    out.write(f"{{width}} {{height}} {{len(raw) // (width * height * 3)}} {{args[args.index('-r') + 1]}}")
"""


def test_mp4_pipes_every_frame_to_ffmpeg_at_even_size(tmp_path, monkeypatch):
    fake = tmp_path / "ffmpeg"
    fake.write_text(FAKE_FFMPEG.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setattr(render, "find_ffmpeg", lambda: str(fake))
    path = render_frames([make_frame(step=t) for t in range(5)], tmp_path / "ep.mp4", fps=12, size=241)
    assert path.read_text() == "242 242 5 12"


def test_find_ffmpeg_reports_none_when_nothing_provides_it(monkeypatch):
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    assert render.find_ffmpeg() is None


def play_length(scenario: str, seed: int) -> int:
    """Steps of one focus-fire episode, played without rendering."""
    from harness.envs import make
    from harness.envs.combat.policies import FocusFirePolicy

    env = make(scenario, batch_size=1, seed=seed)
    policy, step, steps = FocusFirePolicy(env), env.reset(), 0
    while not bool(step.done[0]):
        step, steps = env.step(policy(step)), steps + 1
    return steps


def test_record_episode_renders_every_step_of_a_focus_fire_episode_on_3m(tmp_path):
    path = render.record_episode("3m", "focus_fire", tmp_path / "3m.gif", seed=0, size=SIZE)
    with Image.open(path) as gif:
        assert gif.n_frames == play_length("3m", seed=0) + 1  # the reset frame, then one per step
        assert gif.size == (SIZE, SIZE)


def test_record_episode_accepts_a_callable_policy_and_stops_at_max_steps(tmp_path):
    calls = []

    def stand_still(step):
        calls.append(step)
        return torch.where(step.avail_actions[..., 1], 1, 0)  # [1, A]: stop, or no-op when dead

    path = render.record_episode("3m", stand_still, tmp_path / "still.gif", max_steps=4, size=SIZE)
    with Image.open(path) as gif:
        assert gif.n_frames == 5
    assert len(calls) == 4


def test_record_episode_lets_an_opponent_policy_drive_the_enemies(tmp_path):
    calls = []

    def passive_opponent(env):
        def act(step):
            calls.append(step)
            alive = env.battle.alive[:, env.info.n_agents:]  # [1, N]
            return torch.where(alive, 1, 0)  # stop, or no-op when dead
        return act

    path = render.record_episode("3m", "focus_fire", tmp_path / "vs.gif", opponent=passive_opponent,
                                 size=SIZE)
    with Image.open(path) as gif:
        assert gif.n_frames == len(calls) + 1


def test_record_episode_rejects_unknown_policy_and_extension_before_playing(tmp_path):
    with pytest.raises(ValueError, match="unknown policy 'charge'; allowed: focus_fire"):
        render.record_episode("3m", "charge", tmp_path / "x.gif")
    with pytest.raises(ValueError, match="allowed: .gif, .mp4"):
        render.record_episode("3m", "focus_fire", tmp_path / "x.webm")
