#!/bin/busybox sh
# /init of the per-kernel initrd (nsv_vm.py builds it). Debian's cloud kernels build
# virtio_pci/virtio_blk/virtio_net as modules, so the root disk only appears after
# insmod; unpacked kernel packages have no modules.dep, so the load order was resolved
# on the build host and written to /modules.order. Then hand over to the image.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

fail() {
    echo "nsv-initrd: $*" >/dev/console
    # with qemu -no-reboot a power-off ends the VM, so create.yml fails fast
    poweroff -f
}

rel=$(uname -r)
while read -r mod; do
    insmod "/lib/modules/$rel/$mod" 2>/dev/console || fail "insmod $mod failed"
done </modules.order

i=0
while [ ! -b /dev/vda ]; do
    i=$((i + 1))
    [ "$i" -gt 300 ] && fail "no /dev/vda after 30 s"
    sleep 0.1
done
mkdir -p /newroot
mount -t ext4 -o rw /dev/vda /newroot || fail "cannot mount /dev/vda"

# The same modules inside the guest (on its own qcow2 overlay), so that modprobe
# there finds what is already loaded.
mkdir -p "/newroot/lib/modules/$rel"
cp -a "/lib/modules/$rel/." "/newroot/lib/modules/$rel/"
# and the kernel's config where the audit looks for it
mkdir -p /newroot/boot
cp /config "/newroot/boot/config-$rel"

umount /dev /sys /proc
exec switch_root /newroot /bin/busybox init
