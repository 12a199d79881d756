using System.Net;
using System.Net.Http.Json;
using Mercato.Identity.Data;
using Mercato.Testing;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Mercato.Identity.Tests;

/// <summary>Per-account lockout with the defaults: five wrong passwords in a row lock the account for five minutes.</summary>
public sealed class SignInLockoutTests(IdentityFactory identity) : IClassFixture<IdentityFactory>
{
    private const string Password = "Secret123";

    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);

    private WebApplicationFactory<Program> WithClock() =>
        identity.WithWebHostBuilder(builder => builder.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(_clock)));

    private static async Task<string> RegisterAsync(HttpClient client)
    {
        var email = $"lockout-{Guid.NewGuid():N}@example.test";
        var created = await client.PostAsJsonAsync("/api/identity/users", new { email, password = Password, name = "Lou" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        return email;
    }

    private static Task<HttpResponseMessage> SignInAsync(HttpClient client, string email, string password) =>
        client.PostAsJsonAsync("/api/identity/token", new { email, password });

    private static async Task FailAsync(HttpClient client, string email, int times)
    {
        for (var i = 0; i < times; i++)
        {
            await ProblemAssert.IsProblem(await SignInAsync(client, email, "Wrong1234"), HttpStatusCode.Unauthorized);
        }
    }

    private static async Task AssertLockedAsync(HttpResponseMessage response, TimeSpan retryAfter)
    {
        var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.TooManyRequests);
        Assert.Equal("Account locked", problem.GetProperty("title").GetString());
        Assert.Equal(retryAfter, response.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task Five_wrong_passwords_lock_the_account_for_five_minutes_even_against_the_right_password()
    {
        await using var app = WithClock();
        var client = app.CreateClient();
        var email = await RegisterAsync(client);
        var bystander = await RegisterAsync(client);

        await FailAsync(client, email, 5);

        await AssertLockedAsync(await SignInAsync(client, email, Password), TimeSpan.FromMinutes(5));
        Assert.Equal(HttpStatusCode.OK, (await SignInAsync(client, bystander, Password)).StatusCode);

        _clock.Advance(TimeSpan.FromMinutes(5) - TimeSpan.FromSeconds(1));
        await AssertLockedAsync(await SignInAsync(client, email, Password), TimeSpan.FromSeconds(1));

        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.OK, (await SignInAsync(client, email, Password)).StatusCode);
    }

    [Fact]
    public async Task A_successful_sign_in_or_a_lockout_starts_the_count_again()
    {
        await using var app = WithClock();
        var client = app.CreateClient();
        var email = await RegisterAsync(client);

        await FailAsync(client, email, 4);
        Assert.Equal(HttpStatusCode.OK, (await SignInAsync(client, email, Password)).StatusCode);
        await FailAsync(client, email, 4);
        Assert.Equal(HttpStatusCode.OK, (await SignInAsync(client, email, Password)).StatusCode);

        await FailAsync(client, email, 5);
        _clock.Advance(TimeSpan.FromMinutes(5));
        // After the lockout the account has five attempts again, not one.
        await FailAsync(client, email, 4);
        Assert.Equal(HttpStatusCode.OK, (await SignInAsync(client, email, Password)).StatusCode);
    }

    [Fact]
    public async Task Wrong_passwords_sent_at_once_are_all_counted()
    {
        await using var app = WithClock();
        await ParallelGuessesLockTheAccountAsync(app);
    }

    [SkippableFact]
    public async Task Wrong_passwords_sent_at_once_are_all_counted_on_postgresql()
    {
        // PostgreSQL runs the updates side by side, where SQLite takes one writer at a time.
        await using var database = await PostgresTestDatabase.CreateAsync("identity_lockout");
        using var identityOnPostgres = database.ScaleOutHost<Program>("identity");
        await using var app = identityOnPostgres.WithWebHostBuilder(builder =>
            builder.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(_clock)));
        await ParallelGuessesLockTheAccountAsync(app);
    }

    [Fact]
    public async Task A_burst_of_guesses_gets_no_more_passwords_checked_than_the_limit()
    {
        // Ten guesses arrive while the first ones are still being checked, each reading the account as unlocked.
        var (app, email, burst) = await HeldBurstAsync(10, i => $"Guess{i}abc");
        await using var _ = app;

        Assert.Equal(5, burst.Checked);
        Assert.Equal(Enumerable.Repeat(HttpStatusCode.TooManyRequests, 5), burst.BeforeRelease);
        Assert.Equal(5, burst.Answers.Count(s => s == HttpStatusCode.Unauthorized));
        await AssertLockedAsync(await SignInAsync(app.CreateClient(), email, Password), TimeSpan.FromMinutes(5));
    }

    [Fact]
    public async Task Attempts_whose_outcome_was_never_recorded_lock_the_account_for_a_while_not_for_good()
    {
        await using var app = WithClock();
        var client = app.CreateClient();
        var email = await RegisterAsync(client);
        // Five attempts were taken and the process stopped before any was recorded as failed or successful.
        var lastAttempt = _clock.GetUtcNow();
        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<IdentityDb>().Users.Where(u => u.Email == email)
                .ExecuteUpdateAsync(set => set.SetProperty(u => u.FailedSignIns, 5).SetProperty(u => u.LastAttemptAt, lastAttempt));
        }
        // While they could still be in flight, a sign-in waits a second and locks nothing.
        var meanwhile = await SignInAsync(client, email, Password);
        await ProblemAssert.IsProblem(meanwhile, HttpStatusCode.TooManyRequests);
        Assert.Equal(TimeSpan.FromSeconds(1), meanwhile.Headers.RetryAfter?.Delta);

        _clock.Advance(SignInLockout.InFlightAttemptTimeout + TimeSpan.FromSeconds(1));
        await AssertLockedAsync(await SignInAsync(client, email, Password), TimeSpan.FromMinutes(5));

        _clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(HttpStatusCode.OK, (await SignInAsync(client, email, Password)).StatusCode);
    }

    [Fact]
    public async Task More_sign_ins_with_the_right_password_at_once_than_the_limit_lock_nothing()
    {
        var (app, email, burst) = await HeldBurstAsync(7, _ => Password);
        await using var _ = app;

        Assert.Equal(5, burst.Checked);
        Assert.Equal(5, burst.Answers.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(2, burst.Answers.Count(s => s == HttpStatusCode.TooManyRequests));
        Assert.Equal(HttpStatusCode.OK, (await SignInAsync(app.CreateClient(), email, Password)).StatusCode);
    }

    private sealed record Burst(int Checked, IReadOnlyList<HttpStatusCode> BeforeRelease, IReadOnlyList<HttpStatusCode> Answers);

    /// <summary>
    /// Registers an account, then sends <paramref name="count"/> sign-ins at once while password checks are held, until
    /// each is answered or being checked; then lets the checks go. The checks stop being held afterwards.
    /// </summary>
    private async Task<(WebApplicationFactory<Program> App, string Email, Burst Burst)> HeldBurstAsync(int count, Func<int, string> password)
    {
        var hasher = new HoldingHasher();
        var app = identity.WithWebHostBuilder(builder => builder.ConfigureTestServices(services =>
            services.AddSingleton<TimeProvider>(_clock).AddSingleton<IPasswordHasher<User>>(hasher)));
        var email = await RegisterAsync(app.CreateClient());
        hasher.Hold = true;
        var answered = new System.Collections.Concurrent.ConcurrentBag<HttpStatusCode>();
        try
        {
            var signIns = Enumerable.Range(0, count).Select(async i => answered.Add((await SignInAsync(app.CreateClient(), email, password(i))).StatusCode)).ToList();
            for (var waited = 0; answered.Count + hasher.Checking < count && waited < 300; waited++)
            {
                await Task.Delay(100);
            }
            var (checkedAtOnce, beforeRelease) = (hasher.Checking, answered.ToList());
            hasher.Release();
            await Task.WhenAll(signIns);
            return (app, email, new Burst(checkedAtOnce, beforeRelease, [.. answered]));
        }
        finally
        {
            hasher.Release();
            hasher.Hold = false;
        }
    }

    /// <summary>The real hasher, whose password checks wait, while held, until the test releases them.</summary>
    private sealed class HoldingHasher : IPasswordHasher<User>
    {
        private readonly PasswordHasher<User> _real = new();
        private readonly ManualResetEventSlim _released = new();
        private int _checking;

        public bool Hold { get; set; }

        public int Checking => Volatile.Read(ref _checking);

        public void Release() => _released.Set();

        public string HashPassword(User user, string password) => _real.HashPassword(user, password);

        public PasswordVerificationResult VerifyHashedPassword(User user, string hashedPassword, string providedPassword)
        {
            if (Hold)
            {
                Interlocked.Increment(ref _checking);
                _released.Wait(TimeSpan.FromSeconds(60));
            }
            return _real.VerifyHashedPassword(user, hashedPassword, providedPassword);
        }
    }

    private static async Task ParallelGuessesLockTheAccountAsync(WebApplicationFactory<Program> app)
    {
        var email = await RegisterAsync(app.CreateClient());

        var guesses = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => SignInAsync(app.CreateClient(), email, $"Guess{i}abc")));

        // Each guess either met the lock or was counted; none may sign in, and the account ends locked.
        Assert.All(guesses, g => Assert.Contains(g.StatusCode, (HttpStatusCode[])[HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests]));
        await AssertLockedAsync(await SignInAsync(app.CreateClient(), email, Password), TimeSpan.FromMinutes(5));
    }
}
