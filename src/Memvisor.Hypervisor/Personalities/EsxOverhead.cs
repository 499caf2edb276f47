using Memvisor.Hypervisor.Domains;
using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor.Personalities;

/// <summary>
/// ESX's overhead memory per VM: what a VM needs beyond its own memory to power on (frame buffer, the monitor's
/// structures). From vSphere 6.5/6.7 Resource Management, Table 6-1 "Sample Overhead Memory on Virtual Machines":
/// the 1-vCPU column interpolated over configured memory, plus 4 MB per further vCPU (the table's columns differ by
/// 3.98-4.36 MB per vCPU).
/// </summary>
public static class EsxOverhead
{
    // (configured memory MB, overhead MB with 1 vCPU), the table's rows.
    private static readonly (double Memory, double Overhead)[] Rows = [(256, 20.29), (1024, 25.90), (4096, 48.64), (16384, 139.62)];
    private const double PerExtraVcpuMb = 4.0;

    /// <summary>Overhead in MB for a VM of <paramref name="memoryMb"/> and <paramref name="vcpus"/>; linear between the table's rows, and beyond its ends along the nearest two.</summary>
    public static double Megabytes(double memoryMb, int vcpus)
    {
        int i = memoryMb <= Rows[1].Memory ? 0 : memoryMb <= Rows[2].Memory ? 1 : 2;
        var (m0, o0) = Rows[i];
        var (m1, o1) = Rows[i + 1];
        double first = Math.Max(0, o0 + (o1 - o0) * (memoryMb - m0) / (m1 - m0));
        return first + PerExtraVcpuMb * Math.Max(0, vcpus - 1);
    }

    /// <summary>The overhead of a VM as the host holds it, in pages (rounded up), from its maxmem (the configured memory) and vCPUs.</summary>
    public static long PagesFor(DomainConfig config) =>
        config.IsDom0 ? 0 : (long)Math.Ceiling(Megabytes(PageSize.ToMiB(config.MaxPages), config.Vcpus) * (1 << 20) / PageSize.Bytes);
}
