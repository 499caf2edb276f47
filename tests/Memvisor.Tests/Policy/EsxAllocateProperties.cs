using FsCheck;
using FsCheck.Fluent;
using Memvisor.Policy.Esx;
using Memvisor.Policy.Snapshot;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Policy;

/// <summary>
/// ESX's allocation takes each chunk from a heap of shares per page instead of scanning every VM for every chunk (so
/// thousands of VMs cost milliseconds); on random VMs it gives exactly what the scan gives, ties to the earlier VM.
/// </summary>
public class EsxAllocateProperties
{
    private const long Chunk = 256;

    private static readonly Gen<DomainSnapshot> VmGen =
        from reservation in Gen.Choose(0, 30)
        from extra in Gen.Choose(0, 60)
        from shares in Gen.Elements(0L, 1000L, 2560L, 5120L, 20480L)
        from active in Gen.Choose(0, 100)
        select new DomainSnapshot
        {
            Name = "", ReservationPages = reservation * Chunk, LimitPages = (reservation + extra) * Chunk, Shares = shares,
            ActivePages = active * Chunk / 4,
        };

    [Fact]
    public void The_allocation_is_the_one_a_scan_of_every_vm_for_every_chunk_makes()
    {
        var gen = from n in Gen.Choose(1, 12)
                  from vms in Gen.ArrayOf(VmGen, n)
                  from available in Gen.Choose(0, 800)
                  from tax in Gen.Elements(0.0, 0.75, 0.99)
                  select (vms.Select((d, i) => d with { Name = $"vm{i}" }).ToArray(), available * Chunk / 3, tax);
        Properties.Check(gen, c => Assert.Equal(Reference(c.Item1, c.Item2, c.tax), EsxPolicy.Allocate(c.Item1, c.Item2, c.tax, Chunk)), maxTest: 500);
    }

    // The straightforward algorithm: while the VMs hold more than is available, a chunk from the VM with the fewest shares per page.
    private static Dictionary<string, long> Reference(IReadOnlyList<DomainSnapshot> domains, long available, double idleTax)
    {
        var alloc = domains.ToDictionary(d => d.Name, d => Math.Max(d.LimitPages, d.ReservationPages));
        long total = alloc.Values.Sum();
        double k = 1 / (1 - Math.Min(idleTax, 0.99));
        while (total > available)
        {
            DomainSnapshot? victim = null;
            double lowest = double.MaxValue;
            foreach (var d in domains)
            {
                long p = alloc[d.Name];
                if (p - Chunk < d.ReservationPages) continue;
                double rho = EsxPolicy.SharesPerPage(d, p, k);
                if (rho < lowest) (lowest, victim) = (rho, d);
            }
            if (victim is null) break;
            long take = Math.Min(Chunk, total - available);
            alloc[victim.Name] -= take;
            total -= take;
        }
        return alloc;
    }
}
