#!/usr/bin/env bash
# Build docker/Dockerfile on this machine and run the image: the CI check of issue 7, section 1.
# No registry is needed: the base image (the tag that docker/Dockerfile's FROM names) is made with
# `debootstrap --variant=minbase` from the Debian mirror apt uses here and `docker import`ed; that step is skipped
# when the tag already exists. The machine's extra CA certificates (/usr/local/share/ca-certificates) go into
# docker/certs/ for the build, and proxy variables set in the environment are passed as build args.
#   docker/test-image.sh
#   FEMNN_IMAGE (femnn)  FEMNN_DEBIAN_MIRROR (apt's)  FEMNN_TEST_USER (your uid:gid; 4242:4242 when run as root)
# Needs root for apt-get, dockerd and debootstrap (or a running docker daemon that has the base image).
# Cleans up after itself, also on failure: the daemon it started (by its PID, never another one), the copied
# certificates, the rootfs and its scratch folder. The images stay, so a rerun builds from the cache.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="${FEMNN_IMAGE:-femnn}"
dockerfile="$here/docker/Dockerfile"
certs="$here/docker/certs"
copy_prefix="test-image-host-"  # our copies in docker/certs/; anything else there belongs to the user
work="$(mktemp -d /tmp/femnn-test-image.XXXXXX)"
dockerd_pid=""
rootfs=""
timings=()
t_start=$SECONDS
t_lap=$SECONDS

say() { printf '\n== %s\n' "$*" >&2; }
fail() { printf '\ntest-image.sh: FAIL: %s\n' "$*" >&2; exit 1; }
lap() { timings+=("| $1 | $((SECONDS - t_lap)) |"); t_lap=$SECONDS; }
need_root() { [ "$(id -u)" = 0 ] || fail "$1 needs root (or start a docker daemon that has the base image yourself)"; }

cleanup() {
  local rc=$?
  set +e
  rm -f "$certs/$copy_prefix"*
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$dockerd_pid" 2>/dev/null && kill -9 "$dockerd_pid"
    printf '== stopped the docker daemon this script started (pid %s)\n' "$dockerd_pid" >&2
  fi
  if [ -n "$rootfs" ] && [ -d "$rootfs" ]; then
    # a failed debootstrap can leave /proc or /sys mounted inside: unmount, and never delete across a mount
    findmnt -rn -o TARGET | grep "^$rootfs/" | sort -r | xargs -r -n1 umount -l
    rm -rf --one-file-system "$rootfs"
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rm -f "$certs/$copy_prefix"*  # left by a run that was killed outright

debian_mirror() {  # the URI of the plain Debian archive in apt's sources (not -updates, not -security)
  apt-cache policy 2>/dev/null | awk '
    / Packages$/ { uri = $2; next }
    /^ +release / && uri != "" {
      if ($0 ~ /o=Debian,/ && $0 ~ /l=Debian,/ && $0 !~ /n=[^,]*-/) { print uri; exit }
      uri = "" }'
}

# ---- tools and daemon
pkgs=()
if ! command -v docker >/dev/null || { ! command -v dockerd >/dev/null && ! docker info >/dev/null 2>&1; }; then
  pkgs+=(docker.io)
fi
command -v debootstrap >/dev/null || pkgs+=(debootstrap)
if [ ${#pkgs[@]} -gt 0 ]; then
  need_root "apt-get install ${pkgs[*]}"
  say "installing ${pkgs[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}" >"$work/apt.log" 2>&1 \
    || { tail -20 "$work/apt.log" >&2; fail "apt-get install ${pkgs[*]}"; }
fi
if docker info >/dev/null 2>&1; then
  say "docker daemon: using the one that is running"
else
  need_root "starting dockerd"
  pgrep -x dockerd >/dev/null && fail "a dockerd is running but does not answer 'docker info'; fix or stop it first"
  dockerd >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || { tail -20 "$work/dockerd.log" >&2; dockerd_pid=""; fail "dockerd exited"; }
    sleep 1
  done
  docker info >/dev/null 2>&1 || { tail -20 "$work/dockerd.log" >&2; fail "dockerd did not answer within 60 s"; }
  say "docker daemon: started dockerd (pid $dockerd_pid, log $work/dockerd.log)"
fi
lap "tools and daemon"

# ---- base image, made here: no registry to pull it from
base="$(awk 'toupper($1) == "FROM" { print $2; exit }' "$dockerfile")"
if docker image inspect "$base" >/dev/null 2>&1; then
  say "base image $base: already here, kept"
else
  case "$base" in debian:*) ;; *) fail "cannot make base image '$base' with debootstrap (expected debian:<suite>[-slim])" ;; esac
  suite="${base#debian:}"
  suite="${suite%%-*}"
  need_root debootstrap
  mirror="${FEMNN_DEBIAN_MIRROR:-$(debian_mirror)}"
  if [ -z "$mirror" ]; then apt-get update -q >/dev/null; mirror="$(debian_mirror)"; fi
  [ -n "$mirror" ] || fail "no Debian mirror found in apt's sources; set FEMNN_DEBIAN_MIRROR"
  rootfs="$(mktemp -d /var/tmp/femnn-rootfs.XXXXXX)"
  say "base image $base: debootstrap --variant=minbase $suite $rootfs $mirror"
  debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap $suite from $mirror"; }
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin  # as the official slim images ship
  tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$base" >/dev/null
  rm -rf --one-file-system "$rootfs"
  rootfs=""
fi
lap "base image ($base)"

# ---- build the unchanged docker/Dockerfile
n_certs=0
while IFS= read -r -d '' f; do
  rel="${f#/usr/local/share/ca-certificates/}"
  cp "$f" "$certs/$copy_prefix${rel//\//_}"
  n_certs=$((n_certs + 1))
done < <(find /usr/local/share/ca-certificates -type f -name '*.crt' -print0 2>/dev/null)
build_args=()
for v in HTTP_PROXY HTTPS_PROXY NO_PROXY ALL_PROXY FTP_PROXY http_proxy https_proxy no_proxy all_proxy ftp_proxy; do
  if [ -n "${!v:-}" ]; then build_args+=(--build-arg "$v"); fi
done
for v in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST; do  # a file:// index is not there inside the build
  case "${!v:-}" in "" | *file:*) ;; *) build_args+=(--build-arg "$v") ;; esac
done
old_id="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
say "docker build -t $image -f docker/Dockerfile ${build_args[*]+${build_args[*]} }.   ($n_certs CA certificate(s) copied into docker/certs/)"
if ! docker build -t "$image" -f "$dockerfile" ${build_args[@]+"${build_args[@]}"} "$here" 2>&1 \
  | tee "$work/build.log" | sed -u 's/\x1b\[[0-9;]*m//g' \
  | { grep --line-buffered -E '^Step |^#[0-9]+ \[|setup\.sh:|^Successfully' || true; }; then
  tail -40 "$work/build.log" >&2
  fail "docker build"
fi
rm -f "$certs/$copy_prefix"*
new_id="$(docker image inspect -f '{{.Id}}' "$image")"
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then docker rmi "$old_id" >/dev/null 2>&1 || true; fi
lap "docker build"

# ---- run it
run_user="${FEMNN_TEST_USER:-$(id -u):$(id -g)}"
if [ "$run_user" = 0:0 ]; then
  run_user=4242:4242  # root owns everything anyway; an arbitrary uid with no passwd entry is the real test
fi
out="$work/out"
mkdir -p "$out"
[ "$(id -u)" = 0 ] && chown "$run_user" "$out"

say "(1) docker run --rm $image --version"
version="$(docker run --rm "$image" --version)" || fail "femnn --version"
echo "$version"
[[ $version == "femnn "* ]] || fail "femnn --version printed '$version'"
lap "(1) --version"

# The real job, as far as femnn has come: validate once it exists, else train, else check.
if docker run --rm "$image" validate --help >"$work/validate-help.txt" 2>&1; then
  if grep -q -- --quick "$work/validate-help.txt"; then job=(validate --quick --out /out); else job=(validate --out /out); fi
  why="femnn validate is there"
elif docker run --rm "$image" train --help >/dev/null 2>&1; then
  job=(train fig1 --out /out/fig1 --epochs 5)
  why="femnn validate is not written yet, so: train"
else
  job=(sh -c 'femnn check fig1 > /out/check-fig1.txt')
  why="neither femnn validate nor femnn train is written yet, so: check"
fi
say "(2) $why
docker run --rm --user $run_user -v $out:/out $image ${job[*]}"
docker run --rm --user "$run_user" -v "$out:/out" "$image" "${job[@]}" || fail "${job[*]} (exit $?)"
n_files="$(find "$out" -type f | wc -l)"
[ "$n_files" -gt 0 ] || fail "${job[*]} wrote no files into /out"
not_ours="$(find "$out" -mindepth 1 \( ! -uid "${run_user%%:*}" -o ! -gid "${run_user##*:}" \) -printf '%u:%g %P\n')"
[ -z "$not_ours" ] || fail "files in /out not owned by $run_user: $not_ours"
echo "$n_files file(s) in /out, all owned by $run_user:"
find "$out" -type f -printf '  %P (%s bytes)\n' | sort | head -20
lap "(2) ${job[*]:0:2}"

say "(3) docker run --rm $image mpiexec -n 2 femnn --version"
mpi_out="$(docker run --rm "$image" mpiexec -n 2 femnn --version)" || fail "mpiexec -n 2 femnn --version"
echo "$mpi_out"
# count the version strings, not lines: mpiexec forwards each rank's output as it comes, and two ranks'
# lines can arrive interleaved on one line ("femnn 0.1.0femnn 0.1.0", seen once in CI)
[ "$(grep -o 'femnn [0-9]' <<<"$mpi_out" | wc -l)" = 2 ] || fail "expected 'femnn <version>' from each of two ranks"
# DOLFINx compiles its forms at run time (needs the image's C compiler and a writable cache as any uid)
fem_smoke='
import dolfinx_solver  # loads MPI before the bindings, as the wheel asks
from mpi4py import MPI
import dolfinx, dolfinx.fem, ufl
msh = dolfinx.mesh.create_unit_square(MPI.COMM_WORLD, 8, 8)
one = dolfinx.fem.Constant(msh, dolfinx.default_scalar_type(1.0))
area = msh.comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(one * ufl.dx)), op=MPI.SUM)
assert abs(area - 1.0) < 1e-12, area
if msh.comm.rank == 0:
    print(f"dolfinx {dolfinx.__version__}, {msh.comm.size} ranks: area of the unit square {area:.12f}")
'
say "(3) docker run --rm --user $run_user $image mpiexec -n 2 python -c <DOLFINx form, JIT-compiled>"
docker run --rm --user "$run_user" "$image" mpiexec -n 2 python -c "$fem_smoke" || fail "DOLFINx under mpiexec -n 2"
lap "(3) mpiexec -n 2"

# gmsh and an off-screen picture: the system libraries of the apt layer and EGL
pic_smoke='
import gmsh, pyvista as pv
gmsh.initialize(["-noenv"]); gmsh.option.setNumber("General.Terminal", 0)
gmsh.model.occ.addDisk(0, 0, 0, 1, 1); gmsh.model.occ.synchronize(); gmsh.model.mesh.generate(2)
n_nodes = len(gmsh.model.mesh.getNodes()[0]); gmsh.finalize()
p = pv.Plotter(off_screen=True, window_size=(320, 240)); p.add_mesh(pv.Sphere()); p.screenshot("/out/off-screen.png")
window = p.render_window.GetClassName(); p.close()
print(f"gmsh {gmsh.__version__}: {n_nodes} nodes; pyvista {pv.__version__}: /out/off-screen.png drawn by {window}")
assert window == "vtkEGLRenderWindow", window
'
say "(4) docker run --rm --user $run_user -v $out:/out $image python -c <gmsh mesh, off-screen picture>"
docker run --rm --user "$run_user" -v "$out:/out" "$image" python -c "$pic_smoke" || fail "gmsh / off-screen picture"
[ -s "$out/off-screen.png" ] || fail "no /out/off-screen.png"
lap "(4) gmsh + picture"

timings+=("| total | $((SECONDS - t_start)) |")
say "PASS: image $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%.2f GB", $1 / 1e9 }'))"
printf '\n| step | seconds |\n|---|---|\n' >&2
printf '%s\n' "${timings[@]}" >&2
