using System.Diagnostics.Metrics;
using System.Net;
using Mercato.ServiceDefaults.Resilience;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Polly.CircuitBreaker;
using Polly.RateLimiting;
using Polly.Timeout;

namespace Mercato.Registry.Tests;

/// <summary>
/// The sidecar pipeline every HttpClient gets, in front of a scripted target (the only stand-in here is the network):
/// retries with growing jittered delays for idempotent calls only, breaker states, bulkhead and rate limit, and policy
/// changes taking effect without a restart.
/// </summary>
public sealed class MeshPipelineTests
{
    private sealed class ScriptedTarget : HttpMessageHandler
    {
        private int _calls;

        public int Calls => _calls;

        public Func<HttpRequestMessage, Task<HttpResponseMessage>> Answer { get; set; } =
            _ => Task.FromResult(new HttpResponseMessage(HttpStatusCode.ServiceUnavailable));

        /// <summary>How long the target takes before it answers; a cancelled call stops waiting, as over a network.</summary>
        public TimeSpan Latency { get; set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            await Task.Delay(Latency, cancellationToken);
            return await Answer(request);
        }
    }

    private sealed class Caller : IAsyncDisposable
    {
        private readonly ServiceProvider _services;

        public Caller(TargetPolicy policy, string target, TimeProvider? time = null)
        {
            Target = target;
            Policies = new PolicyStore("caller");
            Policies.Apply(new MeshPolicy { Version = 1, Targets = { [target] = policy } });
            var services = new ServiceCollection();
            services.AddLogging();
            if (time is not null)
            {
                // Polly's strategies take their clock from the container: break durations pass when the test says so.
                services.AddSingleton(time);
            }
            services.AddSingleton(Policies);
            services.AddSingleton<IOptionsMonitor<TargetPolicy>>(Policies);
            services.AddSingleton<MeshTelemetry>();
            services.AddHttpClient("svc").AddMeshPipeline();
            services.AddHttpClient("svc").ConfigurePrimaryHttpMessageHandler(() => Scripted);
            // A second client of the same caller to the same target: its own pipeline, its own breaker.
            services.AddHttpClient("other").AddMeshPipeline();
            services.AddHttpClient("other").ConfigurePrimaryHttpMessageHandler(() => Scripted);
            _services = services.BuildServiceProvider();
            Http = _services.GetRequiredService<IHttpClientFactory>().CreateClient("svc");
            Other = _services.GetRequiredService<IHttpClientFactory>().CreateClient("other");
            Telemetry = _services.GetRequiredService<MeshTelemetry>();
        }

        public string Target { get; }

        public ScriptedTarget Scripted { get; } = new();

        public PolicyStore Policies { get; }

        public HttpClient Http { get; }

        public HttpClient Other { get; }

        public MeshTelemetry Telemetry { get; }

        public Task<HttpResponseMessage> GetAsync() => Http.GetAsync($"http://{Target}/thing");

        public ValueTask DisposeAsync() => _services.DisposeAsync();
    }

    private static string NewTarget() => "t" + Guid.NewGuid().ToString("N")[..12];

    private static TargetPolicy Policy(int retries = 0, int baseDelayMs = 10, int minimumThroughput = 100, int breakMs = 60_000) => new()
    {
        Retry = new RetryPolicy { MaxRetries = retries, BaseDelayMs = baseDelayMs, MaxDelayMs = 2_000 },
        CircuitBreaker = new BreakerPolicy { FailureRatio = 0.5, MinimumThroughput = minimumThroughput, SamplingDurationMs = 30_000, BreakDurationMs = breakMs },
    };

    /// <summary>Records the backoff the pipeline chose before each retry, from its own metric.</summary>
    private sealed class RetryDelays : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly List<double> _delays = [];

        public RetryDelays(string target)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == MeshTelemetry.MeterName && instrument.Name == "resilience_retry_delay")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "target" && (string?)tag.Value == target)
                    {
                        lock (_delays)
                        {
                            _delays.Add(value);
                        }
                    }
                }
            });
            _listener.Start();
        }

        public List<double> TakeAll()
        {
            lock (_delays)
            {
                var all = _delays.ToList();
                _delays.Clear();
                return all;
            }
        }

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public async Task Transient_errors_are_retried_up_to_the_limit_with_growing_jittered_delays()
    {
        await using var caller = new Caller(Policy(retries: 3, baseDelayMs: 10), NewTarget());
        using var delays = new RetryDelays(caller.Target);

        var runs = new List<List<double>>();
        // 24 runs (96 calls, under the breaker's minimum throughput of 100): with 12 the means of the jittered delays
        // came out of order now and then.
        for (var run = 0; run < 24; run++)
        {
            var before = caller.Scripted.Calls;
            using var response = await caller.GetAsync();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal(4, caller.Scripted.Calls - before); // first attempt + 3 retries, then it stops
            runs.Add(delays.TakeAll());
        }

        Assert.All(runs, r => Assert.Equal(3, r.Count));
        // Jitter: the runs did not all wait the same.
        Assert.True(runs.Select(r => string.Join(',', r)).Distinct().Count() > 1, "every run used identical delays");
        // Exponential: the delays grow over the retries. With Polly's decorrelated jitter ("V2") the first two are close
        // (expected 8.7 and 11.6 ms at a 10 ms base; a CI run's 24 means came out 10.1 and 9.5), the third is about twice
        // (20.8 ms): it is the one held to be longer than both, which 24 runs miss about once in 16,000 (simulated).
        var meanByRetry = Enumerable.Range(0, 3).Select(i => runs.Average(r => r[i])).ToList();
        Assert.True(meanByRetry[2] > Math.Max(meanByRetry[0], meanByRetry[1]), $"mean delays {string.Join(", ", meanByRetry)}");
    }

    [Fact]
    public async Task A_post_is_not_retried_blindly_and_a_success_is_not_retried_at_all()
    {
        await using var caller = new Caller(Policy(retries: 3), NewTarget());

        using var post = await caller.Http.PostAsync($"http://{caller.Target}/orders", new StringContent("{}"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, post.StatusCode);
        Assert.Equal(1, caller.Scripted.Calls);

        caller.Scripted.Answer = _ => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
        using var ok = await caller.GetAsync();
        Assert.Equal(2, caller.Scripted.Calls);
    }

    [Fact]
    public async Task A_post_whose_connection_was_refused_is_tried_again_since_nothing_was_sent()
    {
        await using var caller = new Caller(Policy(retries: 3), NewTarget());
        var refused = 0;
        caller.Scripted.Answer = _ => Interlocked.Increment(ref refused) == 1
            ? throw new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused")
            : Task.FromResult(new HttpResponseMessage(HttpStatusCode.Created));

        using var post = await caller.Http.PostAsync($"http://{caller.Target}/orders", new StringContent("{}"));

        Assert.Equal(HttpStatusCode.Created, post.StatusCode);
        Assert.Equal(2, caller.Scripted.Calls);
        // A connection lost after sending may have reached the target: not tried again.
        caller.Scripted.Answer = _ => throw new HttpRequestException(HttpRequestError.ResponseEnded, "The response ended prematurely");
        await Assert.ThrowsAsync<HttpRequestException>(() => caller.Http.PostAsync($"http://{caller.Target}/orders", new StringContent("{}")));
        Assert.Equal(3, caller.Scripted.Calls);
    }

    [Fact]
    public async Task The_breaker_opens_fails_fast_then_a_half_open_probe_closes_it()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var caller = new Caller(Policy(minimumThroughput: 4, breakMs: 500), NewTarget(), time);

        for (var i = 0; i < 4; i++)
        {
            using var failed = await caller.GetAsync();
        }
        Assert.Equal(4, caller.Scripted.Calls);
        Assert.Equal(CircuitState.Open, caller.Telemetry.Breakers[caller.Target]);

        // Open: calls fail fast and none reaches the target.
        for (var i = 0; i < 5; i++)
        {
            await Assert.ThrowsAsync<BrokenCircuitException>(caller.GetAsync);
        }
        Assert.Equal(4, caller.Scripted.Calls);

        // After the break one probe goes through; it fails, so the breaker opens again.
        time.Advance(TimeSpan.FromMilliseconds(700));
        using (await caller.GetAsync())
        {
        }
        Assert.Equal(5, caller.Scripted.Calls);
        await Assert.ThrowsAsync<BrokenCircuitException>(caller.GetAsync);
        Assert.Equal(5, caller.Scripted.Calls);

        // The target recovers: the next probe succeeds and closes the breaker.
        caller.Scripted.Answer = _ => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
        time.Advance(TimeSpan.FromMilliseconds(700));
        using (var probe = await caller.GetAsync())
        {
            Assert.Equal(HttpStatusCode.OK, probe.StatusCode);
        }
        Assert.Equal(CircuitState.Closed, caller.Telemetry.Breakers[caller.Target]);
        using (await caller.GetAsync())
        {
        }
        Assert.Equal(7, caller.Scripted.Calls);
    }

    [Fact]
    public async Task A_breaker_open_in_one_client_stays_reported_when_another_client_starts_calling_the_target()
    {
        await using var caller = new Caller(Policy(minimumThroughput: 4), NewTarget());
        for (var i = 0; i < 4; i++)
        {
            using var failed = await caller.GetAsync();
        }
        Assert.Equal(CircuitState.Open, caller.Telemetry.Breakers[caller.Target]);

        caller.Scripted.Answer = _ => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
        using (var viaOther = await caller.Other.GetAsync($"http://{caller.Target}/thing"))
        {
            Assert.Equal(HttpStatusCode.OK, viaOther.StatusCode);
        }

        Assert.Equal(CircuitState.Open, caller.Telemetry.Breakers[caller.Target]);
        await Assert.ThrowsAsync<BrokenCircuitException>(caller.GetAsync);
    }

    private static HttpRequestMessage Budgeted(Caller caller, TimeSpan budget) =>
        new HttpRequestMessage(HttpMethod.Get, $"http://{caller.Target}/thing").WithBudget(budget);

    [Fact]
    public async Task Calls_cut_by_their_budget_count_as_failures_and_open_the_breaker()
    {
        await using var caller = new Caller(Policy(retries: 2, minimumThroughput: 4), NewTarget());
        caller.Scripted.Latency = TimeSpan.FromSeconds(5);
        caller.Scripted.Answer = _ => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));

        for (var i = 0; i < 4; i++)
        {
            using var request = Budgeted(caller, TimeSpan.FromMilliseconds(100));
            // The budget covers the retries too: the call gives up after it, not after the target's 15 s total timeout.
            await Assert.ThrowsAsync<TimeoutRejectedException>(() => caller.Http.SendAsync(request));
        }

        Assert.Equal(CircuitState.Open, caller.Telemetry.Breakers[caller.Target]);
        var reached = caller.Scripted.Calls;
        using var next = Budgeted(caller, TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAsync<BrokenCircuitException>(() => caller.Http.SendAsync(next));
        Assert.Equal(reached, caller.Scripted.Calls);
    }

    [Fact]
    public async Task A_caller_that_gives_up_does_not_count_against_the_target()
    {
        await using var caller = new Caller(Policy(retries: 0, minimumThroughput: 4), NewTarget());
        caller.Scripted.Latency = TimeSpan.FromSeconds(5);
        caller.Scripted.Answer = _ => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));

        for (var i = 0; i < 6; i++)
        {
            using var aborted = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
            using var request = Budgeted(caller, TimeSpan.FromSeconds(10));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => caller.Http.SendAsync(request, aborted.Token));
        }

        Assert.Equal(CircuitState.Closed, caller.Telemetry.Breakers[caller.Target]);
        Assert.Equal(6, caller.Scripted.Calls);
    }

    [Fact]
    public async Task The_bulkhead_rejects_calls_beyond_its_limit()
    {
        var policy = Policy() with { Bulkhead = new BulkheadPolicy { MaxConcurrency = 2, QueueLimit = 0 } };
        await using var caller = new Caller(policy, NewTarget());
        var release = new TaskCompletionSource<HttpResponseMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        caller.Scripted.Answer = _ => release.Task;

        var inFlight = new[] { caller.GetAsync(), caller.GetAsync() };
        while (caller.Scripted.Calls < 2)
        {
            await Task.Delay(10);
        }
        await Assert.ThrowsAsync<RateLimiterRejectedException>(caller.GetAsync);
        Assert.Equal(2, caller.Scripted.Calls);

        release.SetResult(new HttpResponseMessage(HttpStatusCode.OK));
        await Task.WhenAll(inFlight);
        using var afterwards = await caller.GetAsync();
        Assert.Equal(3, caller.Scripted.Calls);
    }

    [Fact]
    public async Task The_rate_limit_refuses_calls_above_its_rate()
    {
        var policy = Policy() with { RateLimit = new ClientRateLimit { PermitsPerSecond = 2 } };
        await using var caller = new Caller(policy, NewTarget());
        caller.Scripted.Answer = _ => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));

        // The bucket refills on a 1 s timer that started with the pipeline, so a refill may fall between any two calls:
        // calls within T seconds meet at most floor(T) + 1 refills of 2 permits. On a busy machine the eight calls
        // can take over a second, so the bound follows how long they took.
        var refused = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var call = 0; call < 8; call++)
        {
            try
            {
                using var response = await caller.GetAsync();
            }
            catch (RateLimiterRejectedException)
            {
                refused++;
            }
        }
        var refills = (int)clock.Elapsed.TotalSeconds + 1;
        Assert.InRange(caller.Scripted.Calls, 2, Math.Min(7, 2 + (2 * refills)));
        Assert.Equal(8 - caller.Scripted.Calls, refused);
    }

    [Fact]
    public async Task A_policy_change_applies_without_a_restart_and_a_fault_change_keeps_the_breaker()
    {
        await using var caller = new Caller(Policy(retries: 2, minimumThroughput: 100), NewTarget());
        using (await caller.GetAsync())
        {
        }
        Assert.Equal(3, caller.Scripted.Calls);

        // No more retries, and a breaker that opens after two failures.
        caller.Policies.Apply(new MeshPolicy { Version = 2, Targets = { [caller.Target] = Policy(retries: 0, minimumThroughput: 2) } });
        using (await caller.GetAsync())
        {
        }
        Assert.Equal(4, caller.Scripted.Calls);
        using (await caller.GetAsync())
        {
        }
        Assert.Equal(CircuitState.Open, caller.Telemetry.Breakers[caller.Target]);

        // Faults are the target's business: changing them must not rebuild the caller's pipeline (and close its breaker).
        caller.Policies.Apply(new MeshPolicy
        {
            Version = 3,
            Targets = { [caller.Target] = Policy(retries: 0, minimumThroughput: 2) with { Faults = new FaultPolicy { ErrorRate = 1 } } },
        });
        await Assert.ThrowsAsync<BrokenCircuitException>(caller.GetAsync);
        Assert.Equal(5, caller.Scripted.Calls);
    }
}
