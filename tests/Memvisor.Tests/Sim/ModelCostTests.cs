using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>
/// The check that a scenario fits this machine costs a guest by what the simulator keeps for it: a p2m entry per page
/// of its maxmem always, and a page descriptor per page it can put to use, which a workload of known size bounds and
/// one that fills the page cache does not.
/// </summary>
public class ModelCostTests
{
    private const long MaxPages = 3 * 524_288;

    private static double Cost(string workload) => ScenarioChecks.GuestModelBytes(ScenarioLoader.Parse($$"""
        name: cost
        seed: 1
        duration: 1s
        host: { memory: 8GiB, dom0: { memory: 512MiB } }
        domains:
          - { name: vm, count: 3, memory: 2GiB, maxmem: 2GiB, workload: {{workload}} }
        """, "cost.yaml"));

    [Fact]
    public void A_guest_of_known_size_costs_its_pages_in_use_and_one_that_can_fill_its_memory_costs_its_maxmem()
    {
        double idle = Cost("{ kind: idle }");
        double steady = Cost("{ kind: steady, working_set: 256MiB, rate: 100/s }");
        double mixed = Cost("{ kind: mix, parts: [{ kind: steady, working_set: 256MiB, rate: 100/s }, { kind: zipf, working_set: 256MiB, rate: 100/s }] }");
        double files = Cost("{ kind: file-streaming, file_size: 1GiB, rate: 100/s }");

        Assert.True(idle >= MaxPages * 8.0, $"idle guests cost {idle} bytes, less than a p2m entry per page of their maxmem.");
        Assert.True(steady >= idle + 3 * 65_536 * 16.0, $"steady guests cost {steady} bytes, less than idle ones plus descriptors for their working sets.");
        Assert.True(mixed >= steady + 3 * 65_536 * 16.0, $"a mix of two working sets costs {mixed} bytes, less than one plus the other's descriptors.");
        Assert.True(files >= MaxPages * 24.0, $"guests whose page cache can fill their memory cost {files} bytes, less than a p2m entry and a descriptor per page.");
        Assert.True(steady < files / 2, $"steady guests ({steady} bytes) cost nearly as much as guests that fill their memory ({files}).");
    }
}
