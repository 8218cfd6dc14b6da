#!/usr/bin/python3
"""The compositor's device choice (--gpu) with a real client.

- With `--gpu llvmpipe` (Mesa's lavapipe: Vulkan compute on the CPU) the server finds every
  frame's damage with the Vulkan shaders; a SpiceClientGLib client that follows 200 frames of
  the demo's animation (moves, fills, text, images) must then equal the frozen frame pixel for
  pixel: the Vulkan damage missed nothing. Once with 16-pixel tiles, once with 64.
- Without a Vulkan loader (SPICED_VULKAN_LOADER names a missing file) or without a Vulkan
  driver (VK_ICD_FILENAMES names a missing manifest), `--gpu auto` starts on the CPU backend
  and says so in exactly one line; the client's picture is still exact.
- A named device that is not there is refused at start with one line listing the devices.
- `--record-scene FILE` records the demo's composition steps while a client watches; the
  recording replays through both backends identically (scene_replay_test of the same build),
  and a file that cannot be created stops the server with one line.

No lavapipe manifest on this machine: the script prints SKIP and exits 77.

    /usr/bin/python3 tests/integration/test_gpu.py --server build/host/spiced-gpu
"""

import glob
import os
import re
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spiced_harness as H  # noqa: E402

SKIP = 77


def compositor_lines(log):
    return [line for line in log.splitlines() if "[gpu] compositor:" in line]


def follow_animation_case(gpu_args, env_changes=None, want_line=None):
    """A client follows the animation from frame 0 to the freeze, then equals the dump."""
    def run(args):
        with tempfile.TemporaryDirectory(prefix="spiced-gpu-") as d:
            dump = os.path.join(d, "frame.ppm")
            extra = ["--disable-ticketing", "--demo-seed", "11", "--demo-freeze", "200",
                     "--demo-size", "1280x800", "--dump-frame", dump,
                     "--image-compression", "lz4"] + list(gpu_args)
            env = {k: v for k, v in os.environ.items() if k != "SPICED_PASSWORD"}
            env.update(env_changes or {})
            with H.ServerProcess(args.server, extra, workdir=d, env=env) as srv:
                H.check(H.wait_until(lambda: compositor_lines(srv.log()), 10.0),
                        "no compositor line in the log:\n" + srv.log())
                lines = compositor_lines(srv.log())
                H.check(len(lines) == 1, "want one compositor line, got: %s" % lines)
                H.check(re.search(want_line, lines[0]),
                        "compositor line %r does not match %r" % (lines[0], want_line))
                print("  " + lines[0].split("] ", 1)[1])
                client = H.SpiceClient(port=srv.port, name="gpu").connect()
                client.wait_first_invalidate(15.0)
                H.check(not os.path.exists(dump), "the demo froze before the client connected")
                H.check(H.wait_until(lambda: os.path.exists(dump), 40.0), "the demo never froze")
                ok, fb, exp = client.wait_framebuffer_equals(lambda: H.try_read_ppm(dump), 15.0)
                H.check(ok, "after 200 animated frames: %s"
                        % H.diff_report(fb, exp, "client", "dump"))
                print("  client followed %d invalidates, pixel-exact at the freeze"
                      % client.invalidate_count)
                client.disconnect()
                H.pump(0.3)
    return run


def missing_device_refused(args):
    proc = subprocess.run([args.server, "--disable-ticketing", "--port", str(H.free_port()),
                           "--gpu", "no-such-gpu"], capture_output=True, text=True, timeout=20)
    H.check(proc.returncode != 0, "a missing --gpu device should stop the server")
    text = proc.stdout + proc.stderr
    H.check('no Vulkan device "no-such-gpu"' in text and "there are:" in text,
            "the refusal should name the devices there are:\n" + text)
    print("  " + [line for line in text.splitlines() if "no-such-gpu" in line][0])


def replay_binary(args):
    # The same build tree as the server (build/host/spiced-gpu -> build/tests/unit/...).
    return os.path.join(os.path.dirname(os.path.abspath(args.server)), os.pardir, "tests",
                        "unit", "scene_replay_test")


def recorded_demo_replays(args):
    with tempfile.TemporaryDirectory(prefix="spiced-scene-") as d:
        scene = os.path.join(d, "demo.scene")
        dump = os.path.join(d, "frame.ppm")
        extra = ["--disable-ticketing", "--demo-seed", "5", "--demo-freeze", "40",
                 "--demo-size", "640x480", "--dump-frame", dump, "--record-scene", scene]
        with H.ServerProcess(args.server, extra, workdir=d) as srv:
            H.check(H.wait_until(lambda: "--record-scene" in srv.log(), 10.0),
                    "no line about the recording:\n" + srv.log())
            client = H.SpiceClient(port=srv.port, name="scene").connect()
            client.wait_first_invalidate(15.0)
            H.check(H.wait_until(lambda: os.path.exists(dump), 40.0), "the demo never froze")
            client.disconnect()
        H.replay_scene(replay_binary(args), scene, "the demo")


def unwritable_scene_refused(args):
    proc = subprocess.run([args.server, "--disable-ticketing", "--port", str(H.free_port()),
                           "--record-scene", "/nonexistent-dir/demo.scene"],
                          capture_output=True, text=True, timeout=20)
    H.check(proc.returncode != 0, "an unwritable --record-scene should stop the server")
    text = proc.stdout + proc.stderr
    lines = [line for line in text.splitlines() if "/nonexistent-dir/demo.scene" in line]
    H.check(len(lines) == 1 and "No such file or directory" in lines[0],
            "want one line naming the file and why:\n" + text)
    print("  " + lines[0])


def main():
    args = H.parse_args(__doc__)
    if not glob.glob("/usr/share/vulkan/icd.d/lvp_icd*.json"):
        print("SKIP: no lavapipe (mesa-vulkan-drivers) on this machine")
        return SKIP
    cases = [
        ("vulkan_lavapipe_follows_animation",
         follow_animation_case(["--gpu", "llvmpipe"], want_line=r"compositor: vulkan: llvmpipe")),
        ("vulkan_lavapipe_tile_64_follows_animation",
         follow_animation_case(["--gpu", "llvmpipe", "--gpu-tile-size", "64"],
                               want_line=r"compositor: vulkan: llvmpipe")),
        ("no_vulkan_loader_runs_on_cpu",
         follow_animation_case([], {"SPICED_VULKAN_LOADER": "/nonexistent/libvulkan.so.1"},
                               want_line=r"compositor: cpu \(no Vulkan loader")),
        ("no_vulkan_driver_runs_on_cpu",
         follow_animation_case([], {"VK_ICD_FILENAMES": "/nonexistent/icd.json",
                                    "VK_DRIVER_FILES": "/nonexistent/icd.json"},
                               want_line=r"compositor: cpu \(no Vulkan (device|driver)")),
        ("named_missing_device_refused", missing_device_refused),
        ("recorded_demo_replays", recorded_demo_replays),
        ("unwritable_scene_refused", unwritable_scene_refused),
    ]
    return H.run_cases(cases, args)


if __name__ == "__main__":
    sys.exit(main())
