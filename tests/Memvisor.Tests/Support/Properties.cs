using FsCheck;
using FsCheck.Fluent;

namespace Memvisor.Tests.Support;

/// <summary>Runs an FsCheck property, throwing (with the shrunk counterexample) on failure; the test count is sized for CI.</summary>
internal static class Properties
{
    public static void Check<T>(Gen<T> gen, Action<T> property, int maxTest = 100) =>
        FsCheck.Check.One(Config.QuickThrowOnFailure.WithMaxTest(maxTest), Prop.ForAll(Arb.From(gen), property));
}
