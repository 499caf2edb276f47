namespace Memvisor.Hypervisor.Tiers;

/// <summary>
/// A domain's accesses on a tiered host, per memory node: reads, writes, and the time they cost beyond local DRAM.
/// Kept on the domain (its own state, so its accesses count beside other guests' steps) and summed per host.
/// </summary>
public sealed class NodeAccess(int nodes, int cpuNode = 0)
{
    /// <summary>The node the domain's vCPUs run on (fixed when it is built): what its accesses are costed from.</summary>
    public int CpuNode { get; } = cpuNode;

    public readonly long[] Reads = new long[nodes];
    public readonly long[] Writes = new long[nodes];
    public readonly double[] StallNs = new double[nodes];

    /// <summary>Time the domain's vCPUs waited for pages brought back from NVMe on a touch (promote_on_touch).</summary>
    public double TouchWaitNs;

    /// <summary>Everything its accesses waited beyond local DRAM: slower nodes and pages brought back on a touch.</summary>
    public double SlowStallNs()
    {
        double sum = TouchWaitNs;
        foreach (double ns in StallNs) sum += ns;
        return sum;
    }

    public int Nodes => Reads.Length;

    /// <summary>Adds another's counts to these.</summary>
    public void Add(NodeAccess other)
    {
        for (int n = 0; n < Math.Min(Nodes, other.Nodes); n++)
        {
            Reads[n] += other.Reads[n];
            Writes[n] += other.Writes[n];
            StallNs[n] += other.StallNs[n];
        }
        TouchWaitNs += other.TouchWaitNs;
    }
}
