namespace Memvisor.Native;

/// <summary>Raised once, at start-up, when a system library Memvisor binds to cannot be loaded.</summary>
public sealed class NativeLibraryMissingException(string library, Exception inner)
    : Exception($"The system library {library} could not be loaded; install it (Debian package names are in README.md).", inner)
{
    public string Library { get; } = library;
}
