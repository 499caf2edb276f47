using FsCheck;
using FsCheck.Fluent;

namespace Memvisor.Tests.Support;

/// <summary>
/// Runs an FsCheck property, throwing (with the shrunk counterexample) on failure; the test count is sized for CI.
/// Quiet on success: its "Ok, passed" line on the process's console would land in the output of a CLI test that
/// captures the console at the same moment (HostileInputTests failed on it once).
/// </summary>
internal static class Properties
{
    public static void Check<T>(Gen<T> gen, Action<T> property, int maxTest = 100) =>
        FsCheck.Check.One(Config.QuickThrowOnFailure.WithMaxTest(maxTest).WithQuietOnSuccess(true), Prop.ForAll(Arb.From(gen), property));
}
