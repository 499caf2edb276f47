using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Sim;

/// <summary>A create event may name one instance of a counted domain (web-2), building only that one, as xl create builds one domain.</summary>
public sealed class CreateInstanceTests
{
    private const string Yaml = """
        name: staggered
        seed: 1
        duration: 3s
        host: { memory: 512MiB, dom0: { memory: 128MiB } }
        domains:
          - { name: web, count: 3, memory: 32MiB, autostart: false, workload: { kind: steady, working_set: 8MiB, rate: 100/s } }
        events:
          - { at: 1s, action: create, domain: web-2 }
          - { at: 2s, action: create, domain: web }
        """;

    [Fact]
    public void An_instance_is_built_alone_and_the_domain_s_create_builds_the_rest()
    {
        var created = new Simulation(ScenarioLoader.Parse(Yaml, "s.yaml")).Run().Summary.Domains
            .Where(d => d.Name.StartsWith("web", StringComparison.Ordinal)).ToDictionary(d => d.Name, d => d.CreatedAtS);
        Assert.Equal(new Dictionary<string, double> { ["web-1"] = 2, ["web-2"] = 1, ["web-3"] = 2 }, created);
    }

    [Fact]
    public void A_create_of_a_name_that_is_neither_a_domain_nor_an_instance_is_refused()
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(Yaml.Replace("domain: web-2", "domain: web-4"), "s.yaml"));
        Assert.Contains("create names 'web-4', which is not one of the domains or an instance of one.", Assert.Single(e.Errors).Message);
    }
}
