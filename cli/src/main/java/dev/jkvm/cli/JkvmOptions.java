package dev.jkvm.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;

/**
 * The command line, with qemu-system-x86_64's option names and meanings. Values stay strings
 * here; {@link MachineOptions} turns them into a machine configuration and owns the messages.
 */
@Command(name = "jkvm", sortOptions = false, usageHelpWidth = 100,
        description = "A virtual machine monitor for KVM, written in Java. Takes qemu-system-x86_64's options.",
        footer = {"", "Subcommands: jkvm demo   boots the bundled test guest and shows its results."})
final class JkvmOptions {
    @Option(names = "-m", paramLabel = "SIZE", description = "guest RAM: N (MiB), or with a K, M, G or T suffix; default 128M")
    String memory;

    @Option(names = "-smp", paramLabel = "N[,sockets=S][,cores=C][,threads=T][,maxcpus=M]", description = "vCPUs and topology")
    String smp;

    @Option(names = "-cpu", paramLabel = "MODEL[,+FEAT][,-FEAT][,FEAT=on|off]",
            description = "host or max (both: everything KVM offers), with QEMU's feature names")
    String cpu;

    @Option(names = "-vcpu-pin", paramLabel = "VCPU:CPULIST", description = "pin a vCPU thread to host CPUs, as libvirt's vcpupin")
    List<String> vcpuPins = new ArrayList<>();

    @Option(names = "-kernel", paramLabel = "FILE", description = "the kernel to boot: a Linux bzImage, or an ELF with a PVH note (vmlinux) or jkvm's 64-bit note")
    String kernel;

    @Option(names = "-append", paramLabel = "CMDLINE", description = "the kernel command line")
    String append;

    @Option(names = "-initrd", paramLabel = "FILE", description = "an initial RAM disk (the boot protocol's ramdisk for a bzImage, a PVH module for an ELF)")
    String initrd;

    @Option(names = "-nographic", description = "no display; COM1 on stdio with Ctrl-A escapes (the default)")
    boolean nographic;

    @Option(names = "-display", paramLabel = "TYPE", description = "none (jkvm has no graphical display)")
    String display;

    @Option(names = "-serial", paramLabel = "DEV", description = "stdio | mon:stdio | file:PATH | null | none")
    List<String> serial = new ArrayList<>();

    @Option(names = "-drive", paramLabel = "file=F[,if=ide|virtio|none][,index=0-3,media=disk|cdrom][,id=,format=raw,cache=,aio=,readonly=,snapshot=,discard=,serial=]",
            description = "a disk image; if=ide (the default) puts it on the PIIX3 IDE controller")
    List<String> drives = new ArrayList<>();

    @Option(names = "-hda", paramLabel = "FILE", description = "an IDE hard disk at the primary master (index 0)")
    String hda;

    @Option(names = "-hdb", paramLabel = "FILE", description = "an IDE hard disk at the primary slave (index 1)")
    String hdb;

    @Option(names = "-hdc", paramLabel = "FILE", description = "an IDE hard disk at the secondary master (index 2)")
    String hdc;

    @Option(names = "-hdd", paramLabel = "FILE", description = "an IDE hard disk at the secondary slave (index 3)")
    String hdd;

    @Option(names = "-cdrom", paramLabel = "FILE", description = "an ISO image, read-only, in the IDE CD-ROM drive at the secondary master (index 2)")
    String cdrom;

    @Option(names = "-snapshot", description = "write to temporary overlays, never to the images")
    boolean snapshot;

    @Option(names = "-device", paramLabel = "DRIVER[,PROP=VALUE...]",
            description = "isa-debug-exit[,iobase=,iosize=] | virtio-blk-pci,drive=ID[,num-queues=,queue-size=,addr=,serial=]"
                    + " | virtio-net-pci,netdev=ID[,mac=,mq=on|off,addr=] | e1000,netdev=ID[,mac=,addr=]")
    List<String> devices = new ArrayList<>();

    @Option(names = "-netdev", paramLabel = "TYPE,id=ID[,...]",
            description = "a host network backend: tap,id=ID[,ifname=,script=,downscript=,vnet_hdr=on|off,queues=N,fd=N]"
                    + " | socket,id=ID,listen=[HOST]:PORT|connect=HOST:PORT"
                    + " | user,id=ID[,net=,host=,dns=,dhcpstart=,restrict=on|off,hostfwd=RULE...]")
    List<String> netdevs = new ArrayList<>();

    @Option(names = "-nic", paramLabel = "TYPE[,model=e1000|virtio-net-pci][,mac=][,...]",
            description = "a NIC with its backend (TYPE user, tap or socket, with -netdev's properties); none for no NIC")
    List<String> nics = new ArrayList<>();

    @Option(names = "-net", paramLabel = "nic[,model=,macaddr=,netdev=]|TYPE[,...]",
            description = "the legacy form: one -net nic joined to one -net backend")
    List<String> nets = new ArrayList<>();

    @Option(names = "-name", paramLabel = "NAME", description = "a name for the VM")
    String name;

    @Option(names = "-no-reboot", description = "exit instead of rebooting when the guest resets")
    boolean noReboot;

    @Option(names = "-enable-kvm", description = "accepted; jkvm always uses KVM")
    boolean enableKvm;

    @Option(names = "-accel", paramLabel = "kvm", description = "accepted when it names kvm")
    List<String> accel = new ArrayList<>();

    @Option(names = {"-machine", "-M"}, paramLabel = "pc[,mem-merge=on|off][,acpi=on|off|auto][,entry=auto|long|pvh]", description = "the machine type and its properties")
    List<String> machine = new ArrayList<>();

    @Option(names = "-mem-path", paramLabel = "DIR", description = "back guest RAM with a file in DIR (usually hugetlbfs)")
    String memPath;

    @Option(names = "-mem-prealloc", description = "fault all guest RAM in at start-up")
    boolean memPrealloc;

    @Option(names = {"-version", "--version"}, versionHelp = true, description = "print the version and exit")
    boolean version;

    @Option(names = {"-h", "-help", "--help"}, usageHelp = true, description = "print this help and exit")
    boolean help;
}
