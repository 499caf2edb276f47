namespace Memvisor.Sim.Metrics;

/// <summary>What each overcommit mechanism did over a run, for summary.json's <c>mechanisms</c>.</summary>
public sealed record MechanismFigures
{
    public long BalloonPagesReclaimed { get; init; }
    public long BalloonPagesReturned { get; init; }
    public long BalloonStuck { get; init; }
    public long BalloonUncooperative { get; init; }
    public long SelfBalloonAdjustments { get; init; }
    public long SharingPagesShared { get; init; }
    public long SharingPagesSharing { get; init; }
    public long SharingPagesUnshared { get; init; }
    public long SharingZeroPages { get; init; }
    public long SharingSavedPages { get; init; }
    public long SharingPagesScanned { get; init; }
    public long SharingCowBreaks { get; init; }
    public long SharingFullScans { get; init; }
    public long PagingPagedOut { get; init; }
    public long PagingPagedIn { get; init; }
    public long PagingSwapWrites { get; init; }
    public long PagingSwapReads { get; init; }
    public long PagingZeroDropped { get; init; }
    public long PagingEmergencyEvictions { get; init; }
    public long PagingWriteErrors { get; init; }
    public long PagingReadErrors { get; init; }
    public long PagingChecksumErrors { get; init; }
    public long PagingUnreadablePages { get; init; }
    public string? PagingStopped { get; init; }
    public long CompressionPagesCompressed { get; init; }
    public long CompressionPagesDecompressed { get; init; }
    public long CompressionIncompressible { get; init; }
    public long CompressionEvictedToSwap { get; init; }
    public long CompressionBytesSaved { get; init; }
    public double CompressionRatio { get; init; }
    public long TmemPuts { get; init; }
    public long TmemGets { get; init; }
    public long TmemGetMisses { get; init; }
    public long TmemPutsRefused { get; init; }
    public long TmemEphemeralEvicted { get; init; }
    public long TmemPagesEnd { get; init; }
    public long FreePageReportingPagesReported { get; init; }
    public long HotplugPagesAdded { get; init; }
    public long HotplugPagesRemoved { get; init; }
    public long HotplugPagesMigrated { get; init; }
    public long HotplugOfflineFailures { get; init; }
}
