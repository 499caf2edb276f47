namespace Memvisor.Guest.Memory;

/// <summary>Linux's four LRU lists: anonymous and file pages, each inactive and active.</summary>
public enum LruList
{
    InactiveAnon,
    ActiveAnon,
    InactiveFile,
    ActiveFile,
}
