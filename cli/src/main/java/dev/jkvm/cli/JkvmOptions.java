package dev.jkvm.cli;

import java.util.ArrayList;
import java.util.List;

/**
 * The command line, with qemu-system-x86_64's option names and meanings. Values stay strings
 * here; {@link MachineOptions} turns them into a machine configuration and owns the messages.
 * {@link #OPTIONS} is the one list of what jkvm takes: the parser and -h both read it.
 */
final class JkvmOptions {
    static final String SUMMARY = "A virtual machine monitor for KVM, written in Java. Takes qemu-system-x86_64's options.";
    static final String FOOTER = "Subcommands: jkvm demo   boots the bundled test guest and shows its results.";

    static final List<OptionSpec> OPTIONS = List.of(
            new OptionSpec(List.of("-m"), OptionSpec.Kind.VALUE, "SIZE",
                    "guest RAM: N (MiB), or with a K, M, G or T suffix; default 128M"),
            new OptionSpec(List.of("-smp"), OptionSpec.Kind.VALUE, "N[,sockets=S][,cores=C][,threads=T][,maxcpus=M]",
                    "vCPUs and topology"),
            new OptionSpec(List.of("-cpu"), OptionSpec.Kind.VALUE, "MODEL[,+FEAT][,-FEAT][,FEAT=on|off]",
                    "host or max (both: everything KVM offers), with QEMU's feature names"),
            new OptionSpec(List.of("-vcpu-pin"), OptionSpec.Kind.REPEATED, "VCPU:CPULIST",
                    "pin a vCPU thread to host CPUs, as libvirt's vcpupin"),
            new OptionSpec(List.of("-kernel"), OptionSpec.Kind.VALUE, "FILE",
                    "the kernel to boot: a Linux bzImage, or an ELF with a PVH note (vmlinux) or jkvm's 64-bit note"),
            new OptionSpec(List.of("-append"), OptionSpec.Kind.VALUE, "CMDLINE",
                    "the kernel command line"),
            new OptionSpec(List.of("-initrd"), OptionSpec.Kind.VALUE, "FILE",
                    "an initial RAM disk (the boot protocol's ramdisk for a bzImage, a PVH module for an ELF)"),
            new OptionSpec(List.of("-nographic"), OptionSpec.Kind.FLAG, null,
                    "no display; COM1 on stdio with Ctrl-A escapes (the default)"),
            new OptionSpec(List.of("-display"), OptionSpec.Kind.VALUE, "TYPE",
                    "none (jkvm has no graphical display)"),
            new OptionSpec(List.of("-serial"), OptionSpec.Kind.REPEATED, "DEV",
                    "stdio | mon:stdio | file:PATH | null | none"),
            new OptionSpec(List.of("-drive"), OptionSpec.Kind.REPEATED, "file=F[,if=ide|virtio|none][,index=0-3,media=disk|cdrom][,id=,format=raw,cache=,aio=,readonly=,snapshot=,discard=,serial=]",
                    "a disk image; if=ide (the default) puts it on the PIIX3 IDE controller"),
            new OptionSpec(List.of("-hda"), OptionSpec.Kind.VALUE, "FILE",
                    "an IDE hard disk at the primary master (index 0)"),
            new OptionSpec(List.of("-hdb"), OptionSpec.Kind.VALUE, "FILE",
                    "an IDE hard disk at the primary slave (index 1)"),
            new OptionSpec(List.of("-hdc"), OptionSpec.Kind.VALUE, "FILE",
                    "an IDE hard disk at the secondary master (index 2)"),
            new OptionSpec(List.of("-hdd"), OptionSpec.Kind.VALUE, "FILE",
                    "an IDE hard disk at the secondary slave (index 3)"),
            new OptionSpec(List.of("-cdrom"), OptionSpec.Kind.VALUE, "FILE",
                    "an ISO image, read-only, in the IDE CD-ROM drive at the secondary master (index 2)"),
            new OptionSpec(List.of("-snapshot"), OptionSpec.Kind.FLAG, null,
                    "write to temporary overlays, never to the images"),
            new OptionSpec(List.of("-device"), OptionSpec.Kind.REPEATED, "DRIVER[,PROP=VALUE...]",
                    "isa-debug-exit[,iobase=,iosize=] | virtio-blk-pci,drive=ID[,num-queues=,queue-size=,addr=,serial=]" + " | virtio-net-pci,netdev=ID[,mac=,mq=on|off,addr=] | e1000,netdev=ID[,mac=,addr=]"),
            new OptionSpec(List.of("-netdev"), OptionSpec.Kind.REPEATED, "TYPE,id=ID[,...]",
                    "a host network backend: tap,id=ID[,ifname=,script=,downscript=,vnet_hdr=on|off,queues=N,fd=N]" + " | socket,id=ID,listen=[HOST]:PORT|connect=HOST:PORT" + " | user,id=ID[,net=,host=,dns=,dhcpstart=,restrict=on|off,hostfwd=RULE...]"),
            new OptionSpec(List.of("-nic"), OptionSpec.Kind.REPEATED, "TYPE[,model=e1000|virtio-net-pci][,mac=][,...]",
                    "a NIC with its backend (TYPE user, tap or socket, with -netdev's properties); none for no NIC"),
            new OptionSpec(List.of("-net"), OptionSpec.Kind.REPEATED, "nic[,model=,macaddr=,netdev=]|TYPE[,...]",
                    "the legacy form: one -net nic joined to one -net backend"),
            new OptionSpec(List.of("-nodefaults"), OptionSpec.Kind.FLAG, null,
                    "no default devices: no NIC on user networking, no serial port unless -serial names one"),
            new OptionSpec(List.of("-name"), OptionSpec.Kind.VALUE, "NAME",
                    "a name for the VM"),
            new OptionSpec(List.of("-no-reboot"), OptionSpec.Kind.FLAG, null,
                    "exit instead of rebooting when the guest resets"),
            new OptionSpec(List.of("-enable-kvm"), OptionSpec.Kind.FLAG, null,
                    "accepted; jkvm always uses KVM"),
            new OptionSpec(List.of("-accel"), OptionSpec.Kind.REPEATED, "kvm",
                    "accepted when it names kvm"),
            new OptionSpec(List.of("-machine", "-M"), OptionSpec.Kind.REPEATED, "pc[,mem-merge=on|off][,acpi=on|off|auto][,entry=auto|long|pvh]",
                    "the machine type and its properties"),
            new OptionSpec(List.of("-mem-path"), OptionSpec.Kind.VALUE, "DIR",
                    "back guest RAM with a file in DIR (usually hugetlbfs)"),
            new OptionSpec(List.of("-mem-prealloc"), OptionSpec.Kind.FLAG, null,
                    "fault all guest RAM in at start-up"),
            new OptionSpec(List.of("-version", "--version"), OptionSpec.Kind.FLAG, null,
                    "print the version and exit"),
            new OptionSpec(List.of("-h", "-help", "--help"), OptionSpec.Kind.FLAG, null,
                    "print this help and exit"));

    String memory;
    String smp;
    String cpu;
    final List<String> vcpuPins = new ArrayList<>();
    String kernel;
    String append;
    String initrd;
    boolean nographic;
    String display;
    final List<String> serial = new ArrayList<>();
    final List<String> drives = new ArrayList<>();
    String hda;
    String hdb;
    String hdc;
    String hdd;
    String cdrom;
    boolean snapshot;
    final List<String> devices = new ArrayList<>();
    final List<String> netdevs = new ArrayList<>();
    final List<String> nics = new ArrayList<>();
    final List<String> nets = new ArrayList<>();
    String name;
    boolean noReboot;
    boolean enableKvm;
    final List<String> accel = new ArrayList<>();
    final List<String> machine = new ArrayList<>();
    String memPath;
    boolean memPrealloc;
    boolean version;
    boolean help;
    boolean noDefaults;

    /** Parses {@code args} as qemu-system-x86_64 does: a later single-valued option overrides an earlier one. */
    static JkvmOptions parse(String... args) {
        JkvmOptions o = new JkvmOptions();
        QemuOptionParser.parse(args, OPTIONS, o::accept);
        return o;
    }

    private void accept(OptionSpec option, String value) {
        switch (option.name()) {
            case "-m" -> memory = value;
            case "-smp" -> smp = value;
            case "-cpu" -> cpu = value;
            case "-vcpu-pin" -> vcpuPins.add(value);
            case "-kernel" -> kernel = value;
            case "-append" -> append = value;
            case "-initrd" -> initrd = value;
            case "-nographic" -> nographic = true;
            case "-display" -> display = value;
            case "-serial" -> serial.add(value);
            case "-drive" -> drives.add(value);
            case "-hda" -> hda = value;
            case "-hdb" -> hdb = value;
            case "-hdc" -> hdc = value;
            case "-hdd" -> hdd = value;
            case "-cdrom" -> cdrom = value;
            case "-snapshot" -> snapshot = true;
            case "-device" -> devices.add(value);
            case "-netdev" -> netdevs.add(value);
            case "-nic" -> nics.add(value);
            case "-net" -> nets.add(value);
            case "-nodefaults" -> noDefaults = true;
            case "-name" -> name = value;
            case "-no-reboot" -> noReboot = true;
            case "-enable-kvm" -> enableKvm = true;
            case "-accel" -> accel.add(value);
            case "-machine" -> machine.add(value);
            case "-mem-path" -> memPath = value;
            case "-mem-prealloc" -> memPrealloc = true;
            case "-version" -> version = true;
            case "-h" -> help = true;
            default -> throw new IllegalStateException("no field for " + option.name());
        }
    }
}
