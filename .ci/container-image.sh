#!/usr/bin/env bash
# Proves the container image build: `dotnet publish -t:PublishContainer` writes catalog's image to an archive, and the
# image starts and answers its health probe.
#
# This machine reaches no container registry (no mcr.microsoft.com), so the base image is made here the way
# Microsoft's "chiseled" aspnet images are: a distroless root with glibc, libstdc++, OpenSSL, CA certificates and the
# ASP.NET Core runtime of the SDK that builds the apps, served from a throwaway registry on 127.0.0.1:5000. Anywhere
# with network access, leave ContainerBaseImage alone and the SDK uses mcr.microsoft.com/dotnet/aspnet.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d /tmp/mercato-image.XXXXXX)
registry_pid="" app_pid=""
# On any exit: stop what was started and remove the work tree (a root filesystem, a registry and an unpacked image,
# about 600 MB). unshare --fork ignores SIGTERM while it waits, and dropping to the app's uid clears --kill-child's
# death signal: end the app (unshare's child), then unshare itself.
cleanup() {
  if [[ -n $app_pid ]]; then pkill -KILL -P "$app_pid" 2>/dev/null || true; kill -KILL "$app_pid" 2>/dev/null || true; fi
  if [[ -n $registry_pid ]]; then kill "$registry_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
out=$repo/artifacts/containers
mkdir -p "$out"

need=()
for tool in skopeo umoci docker-registry; do command -v "$tool" >/dev/null || need+=("$tool"); done
if ((${#need[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "== base image: distroless root + ASP.NET Core runtime"
root=$work/rootfs
mkdir -p "$root" "$work/debs"
(cd "$work/debs" && apt-get download -qq -o APT::Sandbox::User=root libc6 libgcc-s1 libstdc++6 libssl3 zlib1g tzdata >/dev/null)
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$root"; done
rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/lintian" "$root/usr/share/locale"
mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/app" "$root/home/app" "$root/usr/bin"
chmod 1777 "$root/tmp"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\napp:x:1654:1654:app:/home/app:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\napp:x:1654:\n' > "$root/etc/group"
chown 1654:1654 "$root/home/app"
dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
runtime=$(ls "$dotnet_root/shared/Microsoft.AspNetCore.App" | sort -V | tail -1)
mkdir -p "$root/usr/share/dotnet/shared" "$root/usr/share/dotnet/host"
cp "$dotnet_root/dotnet" "$root/usr/share/dotnet/"
cp -r "$dotnet_root/host/fxr" "$root/usr/share/dotnet/host/"
for framework in Microsoft.NETCore.App Microsoft.AspNetCore.App; do
  mkdir -p "$root/usr/share/dotnet/shared/$framework"
  cp -r "$dotnet_root/shared/$framework/$runtime" "$root/usr/share/dotnet/shared/$framework/"
done
ln -s /usr/share/dotnet/dotnet "$root/usr/bin/dotnet"

layout=$work/oci
umoci init --layout "$layout"
umoci new --image "$layout:base"
umoci insert --image "$layout:base" "$root" /
umoci config --image "$layout:base" \
  --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --config.env "DOTNET_ROOT=/usr/share/dotnet" --config.env "APP_UID=1654" \
  --config.env "ASPNETCORE_HTTP_PORTS=8080" --config.env "DOTNET_RUNNING_IN_CONTAINER=true" \
  --config.workingdir /app

cat > "$work/registry.yml" <<YAML
version: 0.1
storage: { filesystem: { rootdirectory: $work/registry } }
http: { addr: 127.0.0.1:5000 }
YAML
docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 1 50); do curl -fsS http://127.0.0.1:5000/v2/ >/dev/null 2>&1 && break; sleep 0.2; done
base=127.0.0.1:5000/mercato/aspnet:$runtime
skopeo copy --quiet --dest-tls-verify=false "oci:$layout:base" "docker://$base"

echo "== dotnet publish -t:PublishContainer (catalog) onto $base"
DOTNET_CONTAINER_INSECURE_REGISTRIES=127.0.0.1:5000 dotnet publish src/Services/Catalog -c Release -t:PublishContainer \
  -p:ContainerBaseImage="$base" -p:ContainerArchiveOutputPath="$out/catalog.tar" -nologo -v:q
ls -l "$out/catalog.tar"

echo "== the image starts and reports live and ready"
skopeo copy --quiet "oci-archive:$out/catalog.tar:latest" "oci:$work/catalog:latest"
umoci unpack --image "$work/catalog:latest" "$work/bundle" >/dev/null
config=$work/bundle/config.json
uid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["process"]["user"]["uid"])' "$config")
entry=$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["process"]; print(" ".join(p["args"]))' "$config")
mkdir -p "$work/bundle/rootfs/proc" "$work/bundle/rootfs/data" "$work/bundle/rootfs/dev"
# The device nodes a container runtime provides.
mknod -m 666 "$work/bundle/rootfs/dev/null" c 1 3
mknod -m 666 "$work/bundle/rootfs/dev/zero" c 1 5
mknod -m 666 "$work/bundle/rootfs/dev/random" c 1 8
mknod -m 666 "$work/bundle/rootfs/dev/urandom" c 1 9
chown "$uid:$uid" "$work/bundle/rootfs/data"
# The container's environment and entrypoint, run in the unpacked root (no container engine here).
mapfile -t image_env < <(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["process"]["env"]))' "$config")
port=18099
echo "entrypoint: $entry (user $uid)"
env -i "${image_env[@]}" ASPNETCORE_HTTP_PORTS=$port Mercato__DataDir=/data \
  unshare --pid --fork --kill-child --mount-proc --root="$work/bundle/rootfs" --wd=/app \
  --setgid "$uid" --setuid "$uid" $entry > "$work/catalog.log" 2>&1 &
app_pid=$!
ready=""
for _ in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then ready=1; break; fi
  sleep 1
done
if [[ -z $ready ]]; then
  echo "catalog's image did not become ready:"; tail -30 "$work/catalog.log"; exit 1
fi
curl -fsS "http://127.0.0.1:$port/health/live"; echo
curl -fsS "http://127.0.0.1:$port/api/catalog/products?pageSize=1" | head -c 300; echo
echo "== image archive OK: $out/catalog.tar"
