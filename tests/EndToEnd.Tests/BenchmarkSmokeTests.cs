using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.Testing;

namespace Mercato.EndToEnd.Tests;

/// <summary>
/// Benchmarks are not tests, but their scripts must keep working: <c>bench/smoke.sh</c> runs every one of them for a few
/// seconds against this collection's running system (no extra start-up), and the results they write are checked here.
/// Needs bash, curl, jq, nginx and wrk: skipped locally without them, required in CI (<c>MERCATO_CI=1</c>).
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class BenchmarkSmokeTests(EmbeddedSystem system)
{
    private static readonly string[] Tools = ["bash", "curl", "jq", "nginx", "wrk"];

    private static string? Which(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
            .Concat(["/usr/sbin", "/sbin"])
            .Select(dir => Path.Combine(dir, tool))
            .FirstOrDefault(File.Exists);

    [SkippableFact]
    public async Task Every_benchmark_script_runs_against_the_running_system_and_reports_numbers()
    {
        var missing = Tools.Where(tool => Which(tool) is null).ToList();
        Skip.If(missing.Count > 0 && Environment.GetEnvironmentVariable("MERCATO_CI") != "1",
            $"{string.Join(", ", missing)} not installed (apt-get install {string.Join(' ', missing)}); CI installs them.");
        Assert.Empty(missing);

        var output = Path.Combine(Path.GetTempPath(), "mercato-bench-smoke-" + Guid.NewGuid().ToString("N"));
        var start = new ProcessStartInfo("bash", [Path.Combine(Repository.Root, "bench", "smoke.sh")])
        {
            WorkingDirectory = Repository.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["MERCATO_GATEWAY"] = system.Gateway.BaseAddress!.ToString().TrimEnd('/');
        start.Environment["MERCATO_ADMIN_PASSWORD"] = MercatoSystem.AdminPassword;
        start.Environment["BENCH_OUT"] = output;
        // footprint.sh's start-up path too, on a second system of its own on the bench ports, while this one idles: always
        // in CI, and on a developer's machine unless a bench system already runs there.
        var ci = Environment.GetEnvironmentVariable("MERCATO_CI") == "1";
        var startupSmoke = ci || LoopbackPorts.IsFree(18080);
        if (startupSmoke)
        {
            start.Environment["BENCH_SMOKE_STARTUP"] = "1";
        }
        start.Environment["PATH"] = (Environment.GetEnvironmentVariable("PATH") ?? "") + ":/usr/sbin:/sbin";
        using var smoke = Process.Start(start)!;
        var stdout = smoke.StandardOutput.ReadToEndAsync();
        var stderr = smoke.StandardError.ReadToEndAsync();
        using (var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(8)))
        {
            try
            {
                await smoke.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                smoke.Kill(entireProcessTree: true);
                throw;
            }
        }
        var log = await stderr + await stdout;
        Assert.True(smoke.ExitCode == 0, $"bench/smoke.sh exited {smoke.ExitCode}:\n{log}");

        using var gateway = Read(output, "gateway", "gateway-summary.json");
        foreach (var target in (string[])["direct", "gateway", "nginx", "yarp", "cached"])
        {
            var measured = gateway.RootElement.GetProperty("targets").GetProperty(target);
            Assert.True(measured.GetProperty("rps").GetDouble() > 0, $"{target}: no requests measured");
            Assert.Equal(0, measured.GetProperty("errors").GetInt32());
            // The cached target is answered by the gateway alone.
            if (target != "cached")
            {
                Assert.True(measured.GetProperty("catalog_cpu_us_per_request").GetDouble() > 0, $"{target}: no catalog CPU measured");
            }
            if (target != "direct")
            {
                Assert.True(measured.GetProperty("proxy_cpu_us_per_request").GetDouble() > 0, $"{target}: no proxy CPU measured");
            }
        }
        foreach (var ratio in (string[])["gateway_over_nginx", "gateway_over_yarp", "yarp_over_nginx", "cached_over_nginx"])
        {
            Assert.True(gateway.RootElement.GetProperty("ratios").GetProperty(ratio).GetProperty("rps").GetDouble() > 0, $"{ratio} missing");
        }

        // profile.sh sampled the gateway under wrk and ranked where its threads were.
        var profile = await File.ReadAllTextAsync(Path.Combine(output, "profile", "top-inclusive.txt"));
        Assert.Contains("Top 40 Functions (Inclusive)", profile);
        Assert.True(System.Text.RegularExpressions.Regex.Count(profile, @"^\d+\.\s+\S", System.Text.RegularExpressions.RegexOptions.Multiline) >= 10,
            $"fewer than 10 ranked frames:\n{profile}");

        using var checkout = Read(output, "checkout", "steps.json");
        Assert.NotEmpty(checkout.RootElement.EnumerateArray());
        foreach (var step in checkout.RootElement.EnumerateArray())
        {
            Assert.True(step.GetProperty("audit").GetBoolean(), $"checkout audit failed at {step.GetProperty("rate")}/s: {step}");
            Assert.True(step.GetProperty("placed").GetInt32() > 0, $"no order placed at {step.GetProperty("rate")}/s");
        }

        // perorder.sh read the CPU of every service around its two runs, and both passed the audit. (A smoke run's few
        // orders tell nothing about their cost: per-order figures are within noise here.)
        var perOrder = (await File.ReadAllLinesAsync(Path.Combine(output, "perorder", "per-order.jsonl")))
            .Select(line => JsonDocument.Parse(line).RootElement).ToList();
        foreach (var service in MercatoSystem.ServiceNames)
        {
            var row = Assert.Single(perOrder, r => r.GetProperty("process").GetString() == service);
            Assert.Equal(JsonValueKind.Number, row.GetProperty("ms_per_order").ValueKind);
        }
        var total = Assert.Single(perOrder, r => r.GetProperty("process").GetString() == "total");
        Assert.True(total.GetProperty("slow_cpu_s").GetDouble() > 0 && total.GetProperty("fast_cpu_s").GetDouble() > 0, $"perorder.sh read no CPU: {total}");
        Assert.All(perOrder, r => Assert.True(r.GetProperty("audit_passed").GetBoolean() && r.GetProperty("orders").GetInt32() > 0, $"perorder.sh: {r}"));

        using var footprint = Read(output, "footprint", "footprint-summary.json");
        var measuredServices = footprint.RootElement.GetProperty("processes").EnumerateArray()
            .Where(p => p.GetProperty("idle_mb").ValueKind == JsonValueKind.Number && p.GetProperty("idle_mb").GetDouble() > 0)
            .Select(p => p.GetProperty("service").GetString())
            .ToHashSet();
        foreach (var service in MercatoSystem.ServiceNames)
        {
            Assert.Contains(service, measuredServices);
        }

        if (startupSmoke)
        {
            using var startup = Read(output, "footprint-startup", "footprint-summary.json");
            var started = Assert.Single(startup.RootElement.GetProperty("startup").EnumerateArray());
            Assert.True(started.GetProperty("gateway_ready_s").GetDouble() > 0, $"no gateway start-up time: {started}");
            Assert.Contains(startup.RootElement.GetProperty("processes").EnumerateArray(),
                p => p.GetProperty("service").GetString() == "gateway" && p.GetProperty("idle_mb").GetDouble() > 0);
        }

        foreach (var run in (string[])["browse.json", "mixed.json"])
        {
            using var report = Read(output, run);
            Assert.True(report.RootElement.GetProperty("passed").GetBoolean(), $"{run} did not pass");
        }
        Directory.Delete(output, recursive: true);
    }

    /// <summary>
    /// The checkout audit sees every order of the load's users, not only those the load was answered 202 for: an order
    /// placed for one of them behind the load's back (as a placement answered 4xx but created anyway would be) fails it.
    /// </summary>
    [Fact]
    public async Task The_checkout_audit_fails_on_an_order_of_the_load_users_that_the_load_was_never_told_of()
    {
        var loadGen = Path.Combine(Repository.Root, "bench", "LoadGen");
        using (var build = Process.Start(new ProcessStartInfo("dotnet", ["build", loadGen, "-c", "Release", "-nologo", "-v", "quiet"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!)
        {
            var output = Task.WhenAll(build.StandardOutput.ReadToEndAsync(), build.StandardError.ReadToEndAsync());
            using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            try
            {
                await build.WaitForExitAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                build.Kill(entireProcessTree: true);
                Assert.Fail("building bench/LoadGen took over 5 minutes");
            }
            Assert.True(build.ExitCode == 0, $"bench/LoadGen did not build:\n{string.Concat(await output)}");
        }
        var prefix = "audit-" + Guid.NewGuid().ToString("N")[..8];
        var email = $"{prefix}-00000@bench.mercato.local";
        const string password = "Bench-Load-1"; // the load generator's users' password: it signs in to this account
        using (var created = await system.Gateway.PostAsJsonAsync("/api/identity/users", new { email, password, name = "Audit" }))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }
        using var customer = system.ClientWithToken(await system.TokenAsync(email, password));
        var product = (await system.Gateway.GetFromJsonAsync<JsonElement>("/api/catalog/products?pageSize=1")).GetProperty("items")[0].GetProperty("id").GetGuid();

        var report = Path.Combine(Path.GetTempPath(), $"mercato-{prefix}.json");
        var start = new ProcessStartInfo("dotnet",
        [
            Path.Combine(loadGen, "bin", "Release", "net10.0", "loadgen.dll"), "checkout", "--gateway", system.Gateway.BaseAddress!.ToString().TrimEnd('/'),
            "--users", "1", "--user-prefix", prefix, "--rate", "2", "--warmup", "1s", "--duration", "3s", "--drain", "60s",
            "--json", report, "--quiet",
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["MERCATO_ADMIN_PASSWORD"] = MercatoSystem.AdminPassword;
        using var load = Process.Start(start)!;
        var loadStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new System.Text.StringBuilder();
        load.ErrorDataReceived += (_, line) =>
        {
            lock (log)
            {
                log.AppendLine(line.Data);
            }
            if (line.Data?.Contains("open loop at", StringComparison.Ordinal) == true)
            {
                loadStarted.TrySetResult();
            }
        };
        load.BeginErrorReadLine();
        var stdout = load.StandardOutput.ReadToEndAsync();
        await loadStarted.Task.WaitAsync(TimeSpan.FromMinutes(2));

        var behindItsBack = new HttpRequestMessage(HttpMethod.Post, "/api/orders")
        {
            Content = JsonContent.Create(new { items = new[] { new { productId = product, quantity = 1 } } }),
            Headers = { { "Idempotency-Key", Guid.NewGuid().ToString() } },
        };
        using (var placed = await customer.SendAsync(behindItsBack))
        {
            Assert.Equal(HttpStatusCode.Accepted, placed.StatusCode);
        }
        await load.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(4));
        await stdout;

        Assert.True(File.Exists(report), $"no report; the load generator said:\n{log}");
        using var written = JsonDocument.Parse(await File.ReadAllTextAsync(report));
        File.Delete(report);
        var audit = written.RootElement.GetProperty("audit");
        Assert.Equal(1, load.ExitCode);
        Assert.False(audit.GetProperty("passed").GetBoolean());
        Assert.Equal(1, audit.GetProperty("orders").GetProperty("untracked").GetInt32());
        Assert.Contains(audit.GetProperty("problems").EnumerateArray(), p => p.GetString()!.Contains("never told of", StringComparison.Ordinal));
        // Audited with the others: its stock and payment add up, so nothing else is reported.
        Assert.Single(audit.GetProperty("problems").EnumerateArray());
        Assert.True(audit.GetProperty("stock").GetProperty("passed").GetBoolean());
        Assert.True(audit.GetProperty("payments").GetProperty("passed").GetBoolean());
    }

    private static JsonDocument Read(params string[] path) => JsonDocument.Parse(File.ReadAllText(Path.Combine(path)));
}
