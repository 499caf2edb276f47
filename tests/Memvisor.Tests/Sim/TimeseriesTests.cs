using Memvisor.Sim.Metrics;

namespace Memvisor.Tests.Sim;

/// <summary>The time series of a long run stays bounded: evenly spaced rows, the last sample always kept.</summary>
public class TimeseriesTests
{
    [Fact]
    public void A_full_series_halves_its_rows_and_keeps_every_later_sample_on_the_same_spacing()
    {
        var series = new Timeseries(["v"], maxRows: 8);
        for (long t = 0; t < 100; t++) series.Add(t, [t], last: t == 99);

        Assert.True(series.Rows.Count <= 8);
        Assert.Equal(16, series.Stride);
        var times = series.Rows.Select(r => r.TimeNs).ToList();
        // Rows at multiples of the stride, and the final sample.
        Assert.Equal([0, 16, 32, 48, 64, 80, 96, 99], times);
        Assert.All(series.Rows, r => Assert.Equal(r.TimeNs, r.Values[0]));
    }

    [Fact]
    public void A_series_that_never_fills_keeps_every_sample()
    {
        var series = new Timeseries(["v"], maxRows: 8);
        for (long t = 0; t < 8; t++) series.Add(t, [t]);
        Assert.Equal(Enumerable.Range(0, 8).Select(i => (long)i), series.Rows.Select(r => r.TimeNs));
        Assert.Equal(1, series.Stride);
    }
}
