# Shared by check-clean-root.sh and check-deb.sh (sourced, not run): what both do inside a Debian root.

# mount_proc_and_dev ROOT: mount /proc and bind /dev in ROOT (Qt and the self-test read /proc; Python
# needs /dev/null and /dev/urandom), adding each mount to the caller's `mounted` array so that its
# cleanup can undo it, and copy the host's resolv.conf for apt. Calls the caller's `skip` when a
# mount is not allowed (a container without CAP_SYS_ADMIN).
mount_proc_and_dev() {
    local root=$1 fs
    for fs in proc dev; do
        if ! mountpoint -q "$root/$fs"; then
            if [ "$fs" = proc ]; then
                mount -t proc proc "$root/proc" || skip "cannot mount /proc in the root (container without CAP_SYS_ADMIN?)"
            else
                mount --bind /dev "$root/dev" || skip "cannot bind-mount /dev in the root"
            fi
            mounted+=("$root/$fs")
        fi
    done
    cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
}
