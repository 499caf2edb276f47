using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Support;

/// <summary>A scenario the loader must refuse with exactly one problem, which is returned.</summary>
public static class ScenarioRefusal
{
    public static ScenarioError Single(string yaml)
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(yaml, "t.yaml"));
        return Assert.Single(e.Errors);
    }
}
