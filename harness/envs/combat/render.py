"""Episode rendering: draw :class:`RenderFrame` snapshots with Pillow and write a GIF or an MP4.

:func:`record_episode` plays one episode of a combat scenario with a scripted policy and renders it;
:func:`render_frames` renders any list of frames.

Drawing uses Pillow's ImageDraw directly (fast, no figure machinery). GIFs are written by Pillow;
MP4s by piping raw RGB frames into an ffmpeg executable (the one matplotlib is configured with, one
on PATH, or the binary bundled by imageio-ffmpeg).
"""
from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from harness.envs.base import BatchedEnv, EnvStep
from harness.envs.combat.render_frame import RenderFrame

Policy = Callable[[EnvStep], torch.Tensor]  # step -> actions [B, A] (or enemy actions [B, N])
POLICY_NAMES = ("focus_fire", "scripted", "random")

FORMATS = (".gif", ".mp4")
HEADER = 26        # pixels above the arena for the step counter and title
MARGIN = 12        # pixels around the arena
BACKGROUND = (246, 243, 236)
ARENA = (255, 255, 255)
BORDER = (170, 170, 170)
TEXT = (40, 40, 40)
TEAM_COLOURS = ((38, 110, 200), (210, 60, 50))      # team 0 (agents) blue, team 1 red
ATTACK_COLOURS = ((90, 150, 230), (235, 120, 100))  # lighter, so units stay readable on top
HEAL_COLOUR = (60, 175, 80)
DEAD_COLOUR = (214, 214, 214)
HEALTH_COLOUR, SHIELD_COLOUR, BAR_BACK = (60, 180, 75), (70, 190, 230), (90, 90, 90)
UNIT_LETTERS = {
    "marine": "M", "marauder": "R", "medivac": "V", "stalker": "S", "zealot": "Z",
    "colossus": "C", "zergling": "G", "baneling": "B", "hydralisk": "H",
}

Bounds = tuple[float, float, float, float]  # (x0, y0, x1, y1) in world units


class Viewport:
    """Maps world coordinates (y up) inside ``bounds`` to pixels (y down) of a square canvas."""

    def __init__(self, bounds: Bounds, size: int):
        x0, y0, x1, y1 = bounds
        width, height = x1 - x0, y1 - y0
        self.x0, self.y0 = x0, y0
        self.scale = min((size - 2 * MARGIN) / width, (size - HEADER - 2 * MARGIN) / height)
        self.left = (size - width * self.scale) / 2
        self.top = HEADER + MARGIN
        self.bottom = self.top + height * self.scale
        self.right = self.left + width * self.scale

    def point(self, xy: np.ndarray) -> tuple[float, float]:
        return (self.left + (float(xy[0]) - self.x0) * self.scale,
                self.bottom - (float(xy[1]) - self.y0) * self.scale)


def map_bounds(frame: RenderFrame) -> Bounds:
    """The whole map."""
    return 0.0, 0.0, float(frame.map_size[0]), float(frame.map_size[1])


def arena_aspect(size: int) -> float:
    """Width / height of the arena rectangle on a ``size`` x ``size`` canvas."""
    return (size - 2 * MARGIN) / (size - HEADER - 2 * MARGIN)


def episode_bounds(
    frames: list[RenderFrame], aspect: float = 1.0, pad: float = 2.0, min_span: float = 8.0
) -> Bounds:
    """The area every unit of the episode visits, padded, shaped to ``aspect`` and kept in the map.

    SMAC's units are small on a 32-unit map; one fixed camera on the fight keeps them readable.
    """
    points = np.concatenate([np.asarray(f.positions, dtype=float).reshape(-1, 2) for f in frames])
    radius = max(float(np.max(f.radius, initial=0.0)) for f in frames)
    lo = points.min(axis=0) - pad - radius  # [2]
    hi = points.max(axis=0) + pad + radius  # [2]
    span = np.maximum(hi - lo, min_span)  # [2]
    span = np.maximum(span, [span[1] * aspect, span[0] / aspect])  # widen the short side
    limit = np.array([float(frames[0].map_size[0]), float(frames[0].map_size[1])])  # [2]
    span = np.minimum(span, limit)
    lo = np.clip((lo + hi) / 2 - span / 2, 0.0, limit - span)  # slide inside the map
    return float(lo[0]), float(lo[1]), float(lo[0] + span[0]), float(lo[1] + span[1])


@lru_cache(maxsize=8)
def _font(px: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled font at ``px`` pixels (a bitmap fallback where FreeType is missing)."""
    try:
        return ImageFont.load_default(size=px)
    except (TypeError, ImportError, OSError):  # pragma: no cover - Pillow built without FreeType
        return ImageFont.load_default()


def unit_letter(unit_type: str) -> str:
    """Short label drawn inside a unit's circle."""
    return UNIT_LETTERS.get(unit_type.lower(), unit_type[:1].upper() or "?")


def draw_frame(
    frame: RenderFrame, size: int = 480, title: str | None = None, bounds: Bounds | None = None
) -> Image.Image:
    """Draw one frame as an RGB image of ``size`` x ``size`` pixels showing ``bounds`` (default: the map)."""
    image = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    view = Viewport(bounds or map_bounds(frame), size)
    draw.rectangle((view.left, view.top, view.right, view.bottom), fill=ARENA, outline=BORDER)
    alive = np.asarray(frame.alive, dtype=bool)  # [U]
    radii = np.maximum(6.0, np.asarray(frame.radius, dtype=float) * view.scale)  # [U] pixels

    for u in np.flatnonzero(~alive):  # dead first, underneath everything
        _draw_dead(draw, view.point(frame.positions[u]), radii[u])
    _draw_attacks(draw, frame, view, alive)
    for u in np.flatnonzero(alive):
        _draw_unit(draw, frame, u, view.point(frame.positions[u]), radii[u])

    counter = f"step {frame.step}"
    draw.text((MARGIN, 6), counter, fill=TEXT, font=_font(14))
    if title:
        room = size - 3 * MARGIN - draw.textlength(counter, font=_font(14))
        px = next((p for p in range(14, 7, -1) if draw.textlength(title, font=_font(p)) <= room), 8)
        draw.text((size - MARGIN, 6), title, fill=TEXT, font=_font(px), anchor="ra")
    return image


def _draw_attacks(draw: ImageDraw.ImageDraw, frame: RenderFrame, view: Viewport, alive: np.ndarray) -> None:
    """A line from each live attacker to its target; heals (same team) are green."""
    targets = np.asarray(frame.attack_target, dtype=int)  # [U]
    for u in np.flatnonzero(alive & (targets >= 0)):
        t = targets[u]
        if t >= len(targets):
            continue
        heal = frame.team[t] == frame.team[u]
        colour = HEAL_COLOUR if heal else ATTACK_COLOURS[int(frame.team[u]) % 2]
        start, end = view.point(frame.positions[u]), view.point(frame.positions[t])
        draw.line((start, end), fill=colour, width=2)
        draw.ellipse((end[0] - 2, end[1] - 2, end[0] + 2, end[1] + 2), fill=colour)


def _draw_unit(draw: ImageDraw.ImageDraw, frame: RenderFrame, u: int, centre, radius: float) -> None:
    """A live unit: team-coloured disc, type letter, health bar and (if it has one) shield bar."""
    x, y = centre
    colour = TEAM_COLOURS[int(frame.team[u]) % 2]
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour, outline=(20, 20, 20))
    letter = _font(int(max(8, min(16, radius * 1.1))))
    draw.text((x, y), unit_letter(frame.unit_type[u]), fill=(255, 255, 255), font=letter, anchor="mm")

    bar_w = max(12.0, 2 * radius)
    left = x - bar_w / 2
    top = y - radius - 6
    _draw_bar(draw, left, top, bar_w, frame.health[u], frame.max_health[u], HEALTH_COLOUR)
    if frame.max_shield[u] > 0:
        _draw_bar(draw, left, top - 4, bar_w, frame.shield[u], frame.max_shield[u], SHIELD_COLOUR)


def _draw_bar(draw: ImageDraw.ImageDraw, left: float, top: float, width: float,
              value: float, maximum: float, colour: tuple[int, int, int]) -> None:
    """A 3-pixel bar filled in proportion to value / maximum."""
    fraction = float(np.clip(value / maximum, 0.0, 1.0)) if maximum > 0 else 0.0
    draw.rectangle((left, top, left + width, top + 3), fill=BAR_BACK)
    if fraction > 0:
        draw.rectangle((left, top, left + width * fraction, top + 3), fill=colour)


def _draw_dead(draw: ImageDraw.ImageDraw, centre, radius: float) -> None:
    """A dead unit: a faint grey ring with a cross, no bars."""
    x, y = centre
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=DEAD_COLOUR, width=2)
    r = radius * 0.6
    draw.line((x - r, y - r, x + r, y + r), fill=DEAD_COLOUR, width=2)
    draw.line((x - r, y + r, x + r, y - r), fill=DEAD_COLOUR, width=2)


def find_ffmpeg() -> str | None:
    """An ffmpeg executable: matplotlib's configured one, one on PATH, or imageio-ffmpeg's."""
    import matplotlib

    configured = matplotlib.rcParams.get("animation.ffmpeg_path", "ffmpeg")
    for candidate in (configured, "ffmpeg"):
        found = shutil.which(candidate)
        if found:
            return found
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        return None


def _write_gif(images: list[Image.Image], path: Path, fps: int) -> None:
    """Animated GIF that loops forever, holding the last frame for at least a second.

    Pillow merges identical consecutive frames; the step counter keeps an episode's frames distinct.
    """
    frame_ms = round(1000 / fps)
    durations = [frame_ms] * (len(images) - 1) + [max(frame_ms, 1000)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)


def _write_mp4(images: list[Image.Image], path: Path, fps: int) -> None:
    """H.264 MP4 by piping raw RGB frames to ffmpeg; raises if no ffmpeg can be found."""
    ffmpeg = find_ffmpeg()
    if ffmpeg is None:
        raise RuntimeError(
            f"cannot write {str(path)!r}: MP4 needs ffmpeg, and none was found (not on PATH, not "
            "matplotlib's animation.ffmpeg_path, imageio-ffmpeg not installed). Install ffmpeg or "
            "`pip install imageio-ffmpeg`, or write a .gif instead."
        )
    width, height = images[0].size
    command = [
        ffmpeg, "-y", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path),
    ]
    raw = b"".join(image.tobytes() for image in images)
    result = subprocess.run(command, input=raw, capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"ffmpeg ({ffmpeg}) failed writing {str(path)!r}: {result.stderr.decode(errors='replace')}"
        )


def output_path(path: str | Path) -> Path:
    """``path`` as a Path; a ValueError if its extension is not one we can write."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(
            f"cannot render to {str(path)!r}: unsupported extension {path.suffix or '(none)'!r}; "
            f"allowed: {', '.join(FORMATS)}"
        )
    return path


def render_frames(
    frames: list[RenderFrame],
    path: str | Path,
    fps: int = 8,
    size: int = 480,
    title: str | None = None,
    whole_map: bool = False,
) -> Path:
    """Draw ``frames`` and write them as an animation to ``path`` (``.gif`` or ``.mp4``).

    The camera is fixed on the area the units visit (``whole_map=True`` shows the entire map).
    """
    path = output_path(path)
    suffix = path.suffix.lower()
    if not frames:
        raise ValueError("render_frames needs at least one frame")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if size < 64:
        raise ValueError(f"size must be at least 64 pixels, got {size}")
    if suffix == ".mp4":
        size += size % 2  # H.264 with yuv420p needs even dimensions
    bounds = map_bounds(frames[0]) if whole_map else episode_bounds(frames, arena_aspect(size))
    images = [draw_frame(frame, size=size, title=title, bounds=bounds) for frame in frames]
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gif":
        _write_gif(images, path, fps)
    else:
        _write_mp4(images, path, fps)
    return path


def scripted_policy(name: str, env, seed: int = 0) -> Policy:
    """The scripted policy ``name`` from :mod:`harness.envs.combat.policies`, bound to ``env``."""
    from harness.envs.combat import policies

    if name == "focus_fire":
        return policies.FocusFirePolicy(env)
    if name == "scripted":
        return policies.ScriptedPolicy(env)
    if name == "random":
        return policies.RandomPolicy(env, seed=seed)
    raise ValueError(f"unknown policy {name!r}; allowed: {', '.join(POLICY_NAMES)} or a callable")


def record_episode(
    scenario: str,
    policy: str | Policy = "focus_fire",
    path: str | Path = "episode.gif",
    *,
    seed: int = 0,
    max_steps: int | None = None,
    opponent: Callable[[BatchedEnv], Policy] | None = None,
    fps: int = 8,
    size: int = 480,
    whole_map: bool = False,
) -> Path:
    """Play one episode of ``scenario`` on the combat simulator and render it to ``path``.

    ``policy`` is a name from :data:`POLICY_NAMES` or a callable ``policy(step) -> actions [1, A]``;
    ``opponent(env)`` builds a policy ``step -> enemy actions [1, N]`` that replaces the built-in
    scripted opponent (it gets the environment, as the scripted policies do, to read the battle).
    The episode stops when it ends or after ``max_steps`` steps.
    """
    from harness.envs import make

    output_path(path)  # fail before playing the episode
    env = make(scenario, batch_size=1, seed=seed)
    try:
        act = scripted_policy(policy, env, seed) if isinstance(policy, str) else policy
        enemy_act = None if opponent is None else opponent(env)
        step = env.reset()
        frames = [env.render_frame(0)]
        limit = env.info.episode_limit if max_steps is None else max_steps
        while not bool(step.done[0]) and len(frames) <= limit:
            actions = act(step)  # [1, A]
            if enemy_act is None:
                step = env.step(actions)
            else:
                step = env.step(actions, enemy_actions=enemy_act(step))
            frames.append(env.render_frame(0))
    finally:
        env.close()
    label = policy if isinstance(policy, str) else getattr(policy, "__name__", type(policy).__name__)
    if bool(step.battle_won[0]):
        outcome = "won"
    elif bool(step.truncated[0]):
        outcome = "time limit"
    else:
        outcome = "lost" if bool(step.terminated[0]) else f"stopped at {len(frames) - 1} steps"
    title = f"{scenario} | {label} | seed {seed} | {outcome}"
    return render_frames(frames, path, fps=fps, size=size, title=title, whole_map=whole_map)
