"""Session 6 speed cuts of fuse (docs/benchmarks.md "Fuse speed (session 6, h5)"): each must give
what the plain computation gives, bit for bit."""
import numpy as np

from synnet_recon.recon.lift import backproject
from synnet_recon.recon.person import person_points, pixels_near_person
from synnet_recon.recon.rgbd_odometry import RGBDOdometryConfig, odometry_image
from synnet_recon.recon.verify import Photo, _surface_states, colour_states

K = np.array([[400.0, 0.0, 319.5], [0.0, 400.0, 239.5], [0.0, 0.0, 1.0]])


def _joints(rng, centre=(0.2, 0.1, 3.0)):
    joints = np.asarray(centre) + rng.normal(scale=[0.25, 0.5, 0.15], size=(18, 3))
    joints[rng.random(18) < 0.2] = np.nan
    return joints


def _depth(rng, joints, shape=(480, 640)):
    """A wall at 5 m, the floor, and a blob of depth around the joints' pixels (the person)."""
    h, w = shape
    v, u = np.mgrid[0:h, 0:w]
    depth = np.full(shape, 5.0, np.float32)
    floor = v > 300
    depth[floor] = (1.5 * K[1, 1] / (v[floor] - K[1, 2])).astype(np.float32)
    for x, y, z in joints[np.isfinite(joints).all(1)]:
        pu, pv = K[0, 0] * x / z + K[0, 2], K[1, 1] * y / z + K[1, 2]
        blob = (u - pu) ** 2 + (v - pv) ** 2 < 30 ** 2
        depth[blob] = np.minimum(depth[blob], z + rng.normal(scale=0.05))
    depth[rng.random(shape) < 0.05] = 0.0
    return depth


def test_pixels_near_person_leave_out_none_of_the_persons_points():
    rng = np.random.default_rng(3)
    for _ in range(3):
        joints = _joints(rng)
        depth = _depth(rng, joints)[::2, ::2]   # 320x240 (the joints' pixels at half the focal)
        K2 = K.copy()
        K2[:2] /= 2
        v, u = np.nonzero(depth > 0)
        body = person_points(backproject(np.stack([u, v], 1), depth[v, u], K2), joints)
        near = pixels_near_person(u, v, depth[v, u], K2, joints)
        assert body.sum() > 100 and not (body & ~near).any()
        assert near.sum() < 0.6 * len(near)   # it does leave most of the background out
        sub = person_points(backproject(np.stack([u[near], v[near]], 1), depth[v[near], u[near]], K2), joints)
        assert np.array_equal(sub, body[near])
    assert not pixels_near_person(u, v, depth[v, u], K2, np.full((18, 3), np.nan)).any()


def test_odometry_image_masks_the_person_as_with_every_pixel_lifted():
    rng = np.random.default_rng(4)
    config = RGBDOdometryConfig()
    for _ in range(2):
        joints = _joints(rng)
        depth = _depth(rng, joints)
        image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        got = odometry_image(image, depth, K, joints, config)
        # the plain computation: every pixel with depth lifted, then the person's cleared
        import cv2

        from synnet_recon.recon.rgbd_odometry import masked_rgbd

        small = cv2.resize(depth, got.shape[::-1], interpolation=cv2.INTER_NEAREST)
        colour = cv2.resize(image, got.shape[::-1], interpolation=cv2.INTER_AREA)
        v, u = np.nonzero(small > 0)
        body = person_points(backproject(np.stack([u, v], 1), small[v, u], got.K), joints)
        mask = np.zeros(small.shape, bool)
        mask[v[body], u[body]] = True
        want = masked_rgbd(colour, small, mask)
        assert mask.sum() > 50
        assert np.array_equal(np.asarray(got.rgbd.depth), np.asarray(want.depth))
        assert np.array_equal(np.asarray(got.rgbd.color), np.asarray(want.color))


def test_colour_states_as_the_plain_computation():
    rng = np.random.default_rng(5)
    for _ in range(5):
        points = rng.uniform([-3, -1.5, 1.0], [3, 1.5, 6.0], size=(4000, 3))
        depth = np.where(rng.random((480, 640)) < 0.1, 0.0, rng.uniform(1, 6, (480, 640))).astype(np.float32)
        image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        T = np.eye(4)
        T[:3, 3] = rng.normal(scale=0.1, size=3)
        moved = points + T[:3, 3]
        uv = np.round(moved[:, :2] / moved[:, 2:] * 400 + [319.5, 239.5]).astype(int)
        inside = (uv >= 0).all(1) & (uv < [640, 480]).all(1)
        depth[uv[inside, 1], uv[inside, 0]] = moved[inside, 2] + rng.normal(scale=0.01, size=inside.sum())
        colours = np.clip(image[np.clip(uv[:, 1], 0, 479), np.clip(uv[:, 0], 0, 639)] / 255.0
                          + rng.normal(scale=0.1, size=(4000, 3)), 0, 1)
        photo = Photo(points, colours, image)
        got = colour_states(photo, T, image, depth, K, 0.03, 0.12)
        states, u, v = _surface_states(points, T, depth, K, 0.03)
        seen = image[np.clip(v, 0, 479), np.clip(u, 0, 639)].astype(np.float64) / 255.0
        want = ((states > 0) & (np.abs(seen - colours).mean(axis=1) < 0.12)).astype(np.float64)
        assert 50 < want.sum() < len(want) and np.array_equal(got, want)


def test_one_turn_helper_turns_about_the_axis_through_the_centre():
    from synnet_recon.recon.joint_icp import turn_about
    from synnet_recon.recon.register import rotation_error_deg

    axis = np.array([0.1, -0.97, 0.2])
    axis /= np.linalg.norm(axis)
    centre = np.array([0.3, 0.2, 3.0])
    T = turn_about(axis, centre, 7.0)
    assert abs(rotation_error_deg(np.eye(4), T) - 7.0) < 1e-9
    assert np.allclose(T[:3, :3] @ axis, axis) and np.allclose(T[:3, :3] @ centre + T[:3, 3], centre)
    assert np.allclose(turn_about(axis, centre, -7.0) @ T, np.eye(4))


def test_the_fuse_module_is_not_hidden_by_the_function():
    import types

    import synnet_recon.recon.fuse as module
    from synnet_recon.recon import fuse

    assert isinstance(module, types.ModuleType) and fuse is module and callable(module.fuse)


def test_open3d_threads_limit_is_given_back():
    from synnet_recon.o3d import o3d, threads

    before = o3d.utility.get_max_threads()
    with threads(1):
        assert o3d.utility.get_max_threads() == 1
    assert o3d.utility.get_max_threads() == before
    with threads(0):
        assert o3d.utility.get_max_threads() == before



def test_blas_thread_limit_is_given_back_and_counted():
    from synnet_recon import blas

    before = blas.threads()
    with blas.limited(1):
        assert all(n == 1 for n in blas.threads())
        with blas.limited(1):
            assert all(n == 1 for n in blas.threads())
        assert all(n == 1 for n in blas.threads())   # the outer block still holds
    assert blas.threads() == before
    with blas.limited(0):
        assert blas.threads() == before


def test_fuse_runs_numpys_blas_on_its_configured_threads(monkeypatch):
    """fuse holds numpy's BLAS at ``FuseConfig.blas_threads`` (its spinning threads cost CPU beside the
    workers) and gives the count back, also when fuse fails."""
    import pytest

    from synnet_recon import blas
    from synnet_recon.recon import fuse as F

    seen = []

    def failing(sync, config):
        seen.append(blas.threads())
        raise RuntimeError("stop")

    monkeypatch.setattr(F, "read_inputs", failing)
    before = blas.threads()
    with pytest.raises(RuntimeError):
        F.fuse("x.json", F.FuseConfig(progress=False))
    assert seen and all(n == 1 for n in seen[0]) and blas.threads() == before
    if before and max(before) > 1:   # 0: left as it is
        with pytest.raises(RuntimeError):
            F.fuse("x.json", F.FuseConfig(progress=False, blas_threads=0))
        assert seen[1] == before

def _plain_fine_grid(depth: np.ndarray, K: np.ndarray):
    """The fine check's camera points and normals for every pixel, as first written (one (H, W, 3)
    grid, ``np.cross`` of the central differences; the reference for ``FineView.surface``)."""
    d = np.asarray(depth, dtype=np.float64)
    h, w = d.shape
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    P = np.stack([(u - K[0, 2]) / K[0, 0] * d, (v - K[1, 2]) / K[1, 1] * d, d], axis=-1)
    P[d <= 0] = np.nan
    normals = np.full_like(P, np.nan)
    left, right, up, down, centre = P[1:-1, :-2], P[1:-1, 2:], P[:-2, 1:-1], P[2:, 1:-1], P[1:-1, 1:-1]
    n = np.cross(right - left, down - up)
    with np.errstate(invalid="ignore", divide="ignore"):
        n /= np.linalg.norm(n, axis=-1, keepdims=True)
        n = np.where((np.einsum("ijk,ijk->ij", n, centre) > 0)[..., None], -n, n)
        z = centre[..., 2]
        smooth = np.ones(z.shape, bool)
        for nb in (left, right, up, down):
            smooth &= np.abs(nb[..., 2] - z) < 0.03 * z + 0.01
    n[~smooth] = np.nan
    normals[1:-1, 1:-1] = n
    return P, normals


def test_fine_view_surface_where_looked_up_is_the_whole_grid_computation():
    from synnet_recon.recon.fine import FineConfig, fine_view

    rng = np.random.default_rng(5)
    depth = _depth(rng, _joints(rng))
    image = rng.integers(0, 256, depth.shape + (3,), dtype=np.uint8)
    view = fine_view(image, depth, K, FineConfig())
    P, normals = _plain_fine_grid(depth, K)
    h, w = depth.shape
    q, n = view.surface(*np.divmod(np.arange(h * w), w))   # every pixel
    assert np.array_equal(q.reshape(h, w, 3), P, equal_nan=True)
    assert np.array_equal(n.reshape(h, w, 3), normals, equal_nan=True)
    v, u = rng.integers(0, depth.shape[0], 5000), rng.integers(0, depth.shape[1], 5000)
    v[:4], u[:4] = [0, depth.shape[0] - 1, 5, 7], [3, 9, 0, depth.shape[1] - 1]   # the border too
    q, n = view.surface(v, u)
    assert np.array_equal(q, P[v, u], equal_nan=True) and np.array_equal(n, normals[v, u], equal_nan=True)
    assert np.array_equal(view.shade[..., 0], view.gray) and np.array_equal(view.shade[..., 1:], view.gradient)


def _plain_depth_noise(depth: np.ndarray, every: int = 1) -> float:
    """``fine.depth_noise`` as first written: the whole map converted, then every n-th row and column."""
    d = np.where(np.isfinite(depth) & (depth > 0), depth, np.nan).astype(np.float64)
    seconds = []
    for a in (d[::every], d.T[::every]):
        left, mid, right = a[:, :-2], a[:, 1:-1], a[:, 2:]
        with np.errstate(invalid="ignore", divide="ignore"):
            smooth = (np.abs(left - mid) < 0.03 * mid + 0.01) & (np.abs(right - mid) < 0.03 * mid + 0.01)
            seconds.append((1 / left - 2 / mid + 1 / right)[smooth])
    r = np.concatenate(seconds)
    if len(r) < 100:
        return 0.0
    return float(1.4826 * np.median(np.abs(r - np.median(r))) / np.sqrt(6.0))


def test_depth_noise_reads_only_the_rows_and_columns_it_uses():
    from synnet_recon.recon.fine import depth_noise

    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        joints = _joints(rng)
        depth = _depth(rng, joints).astype(dtype)
        depth = depth * (1 + rng.normal(scale=2e-3, size=depth.shape)).astype(dtype)   # sensor-like noise
        depth[rng.random(depth.shape) < 0.01] = np.nan
        for every in (1, 3, 4):
            assert depth_noise(depth, every) == _plain_depth_noise(depth, every)


def _view_inputs(rng, shift=0.0):
    from synnet_recon.recon.anchored import ViewInputs
    from synnet_recon.recon.register import RegistrationConfig, prepare

    joints = _joints(rng)
    depth = _depth(rng, joints)
    v, u = np.nonzero(depth[::4, ::4] > 0)
    points = backproject(np.stack([4 * u, 4 * v], 1), depth[4 * v, 4 * u], K) + shift
    colours = rng.random(points.shape)
    image = rng.integers(0, 255, depth.shape + (3,), dtype=np.uint8)
    return ViewInputs(prepare((points, colours), RegistrationConfig()), (points, colours), joints, image, depth, K)


def test_trials_again_share_what_they_made_of_the_same_views_only():
    """``place_view`` reuses the anchor's fine-check views and photos (``_Trials.again``) when its views
    are the same arrays: the same values, made once; other views get trials of their own."""
    from synnet_recon.recon.anchored import AnchorConfig, _Trials
    from synnet_recon.recon.register import RegistrationConfig

    rng = np.random.default_rng(7)
    source, target = _view_inputs(rng), _view_inputs(rng, 0.1)
    registration, config = RegistrationConfig(), AnchorConfig()
    first = _Trials(source, target, registration, config)
    first.checks.append("a check")
    photos, fine_source = first.photos, first.fine.source
    again = first.again(source, target, registration, config)
    assert again.checks == [] and again.joints_of == {} and first.checks == ["a check"]
    assert again.photos is photos and again.fine.source is fine_source and again.spread == first.spread
    fresh = _Trials(source, target, registration, config)
    for a, b in zip(again.photos, fresh.photos):
        assert np.array_equal(a.points, b.points) and np.array_equal(a.colours, b.colours)
    other = _view_inputs(rng)
    for args in ((other, target, registration, config), (source, target, RegistrationConfig(), config),
                 (source, target, registration, AnchorConfig())):
        new = first.again(*args)
        assert new.fine is not first.fine and new.source is args[0]
