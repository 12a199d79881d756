using System.IdentityModel.Tokens.Jwt;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.Identity;
using Mercato.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Mercato.Identity.Tests;

/// <summary>Identity validates its own tokens like every service does: through its own published JWKS.</summary>
public sealed class IdentityFactory : ServiceFactory<Program>
{
    protected override HttpMessageHandler CreateJwksHandler() => Server.CreateHandler();
}

public sealed class IdentityApiTests(IdentityFactory identity) : IClassFixture<IdentityFactory>
{
    [Fact]
    public async Task Every_operation_in_the_openapi_document_lists_its_answers() =>
        await OpenApiAssert.EveryOperationDocumentsItsAnswersAsync(identity.CreateClient());

    private static string NewEmail() => $"user-{Guid.NewGuid():N}@example.test";

    private async Task<string> TokenFor(string email, string password)
    {
        var response = await identity.CreateClient().PostAsJsonAsync("/api/identity/token", new { email, password });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Bearer", json.GetProperty("token_type").GetString());
        Assert.Equal(3600, json.GetProperty("expires_in").GetInt32());
        return json.GetProperty("access_token").GetString()!;
    }

    [Fact]
    public async Task Register_login_and_read_me()
    {
        var client = identity.CreateClient();
        var email = NewEmail();

        var created = await client.PostAsJsonAsync("/api/identity/users", new { email, password = "Secret123", name = "Ada" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var user = await created.Content.ReadFromJsonAsync<UserResponse>();
        Assert.Equal((email, "Ada"), (user!.Email, user.Name));
        Assert.NotEqual(Guid.Empty, user.Id);

        var token = await TokenFor(email.ToUpperInvariant(), "Secret123");
        var me = await identity.CreateClientWithToken(token).GetFromJsonAsync<CurrentUserResponse>("/api/identity/users/me");

        Assert.Equal(user.Id, me!.Id);
        Assert.Equal(["customer"], me.Roles);
    }

    [Fact]
    public async Task A_registrations_location_answers_for_that_user_and_admins_only()
    {
        var email = NewEmail();
        var created = await identity.CreateClient().PostAsJsonAsync("/api/identity/users", new { email, password = "Secret123", name = "Ada" });
        var location = created.Headers.Location!.OriginalString;
        var id = (await created.Content.ReadFromJsonAsync<UserResponse>())!.Id;

        var self = await identity.CreateClientWithToken(await TokenFor(email, "Secret123")).GetFromJsonAsync<CurrentUserResponse>(location);
        var byAdmin = await identity.CreateClientWithToken(await TokenFor(DevAdminSeeder.AdminEmail, DevAdminSeeder.DevelopmentPassword))
            .GetFromJsonAsync<CurrentUserResponse>(location);
        var another = NewEmail();
        await identity.CreateClient().PostAsJsonAsync("/api/identity/users", new { email = another, password = "Secret123", name = "Bo" });
        var byAnother = await identity.CreateClientWithToken(await TokenFor(another, "Secret123")).GetAsync(location);

        Assert.Equal($"/api/identity/users/{id}", location);
        Assert.Equal((id, email), (self!.Id, self.Email));
        Assert.Equal(id, byAdmin!.Id);
        await ProblemAssert.IsProblem(byAnother, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task While_its_database_is_locked_a_registration_is_503_with_retry_after_not_e_mail_taken()
    {
        await using var impatient = identity.WithImpatientDatabase("identity");
        var client = impatient.CreateClient();
        var email = NewEmail();

        await using (await identity.LockDatabaseAsync("identity"))
        {
            var refused = await client.PostAsJsonAsync("/api/identity/users", new { email, password = "Secret123", name = "Eve" });

            await ProblemAssert.IsProblem(refused, HttpStatusCode.ServiceUnavailable);
            Assert.Equal(TimeSpan.FromSeconds(5), refused.Headers.RetryAfter?.Delta);
        }

        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/api/identity/users", new { email, password = "Secret123", name = "Eve" })).StatusCode);
    }

    [Fact]
    public async Task Password_is_stored_hashed()
    {
        var email = NewEmail();
        await identity.CreateClient().PostAsJsonAsync("/api/identity/users", new { email, password = "Secret123", name = "Bob" });

        using var scope = identity.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<Data.IdentityDb>();
        var stored = db.Users.Single(u => u.Email == email);

        Assert.DoesNotContain("Secret123", stored.PasswordHash, StringComparison.Ordinal);
        Assert.True(stored.PasswordHash.Length > 40);
    }

    [Fact]
    public async Task Duplicate_email_is_409_whatever_the_case()
    {
        var client = identity.CreateClient();
        var email = NewEmail();
        await client.PostAsJsonAsync("/api/identity/users", new { email, password = "Secret123", name = "Ann" });

        var again = await client.PostAsJsonAsync("/api/identity/users", new { email = email.ToUpperInvariant(), password = "Other1234", name = "Ann 2" });

        await ProblemAssert.IsProblem(again, HttpStatusCode.Conflict);
    }

    [Theory]
    [InlineData("""{"email":"not-an-email","password":"Secret123","name":"A"}""", "email")]
    [InlineData("""{"email":"a@b.test","password":"short1A","name":"A"}""", "password")]
    [InlineData("""{"email":"a@b.test","password":"alllowercase1","name":"A"}""", "password")]
    [InlineData("""{"email":"a@b.test","password":"NoDigitsHere","name":"A"}""", "password")]
    [InlineData("""{"email":"a@b.test","password":"Secret123","name":"  "}""", "name")]
    [InlineData("""{"email":"a@b.test","password":123,"name":"A"}""", "password")]
    [InlineData("""{"email":"a@b.test",""", "body")]
    [InlineData("", "body")]
    [InlineData("null", "body")]
    [InlineData("""{"email":"a@b.test","password":"Secret123","name":"a\u0001b"}""", "name")]
    [InlineData("""{"email":"a\u202Eb@b.test","password":"Secret123","name":"A"}""", "email")]
    // Invisible characters: an address that shows exactly as another's, or a name that shows as nothing.
    [InlineData("""{"email":"admin\u200B@mercato.local","password":"Secret123","name":"A"}""", "email")]
    [InlineData("""{"email":"ad\u00ADmin@b.test","password":"Secret123","name":"A"}""", "email")]
    [InlineData("""{"email":"a\u200Db@b.test","password":"Secret123","name":"A"}""", "email")]
    [InlineData("""{"email":"a@b.test","password":"Secret123","name":"\u200B"}""", "name")]
    [InlineData("""{"email":"a@b.test","password":"Secret123","name":"\u0301\u0301"}""", "name")]
    [InlineData("""{"email":"a@b.test","password":"Secret123","name":"An\uFEFFna"}""", "name")]
    // Outside the Basic Multilingual Plane (a tag space), and letters drawn as nothing (Hangul filler, blank braille).
    [InlineData("""{"email":"admin\uDB40\uDC20@mercato.local","password":"Secret123","name":"A"}""", "email")]
    [InlineData("""{"email":"a@b.test","password":"Secret123","name":"\uDB40\uDC41\uDB40\uDC42"}""", "name")]
    [InlineData("""{"email":"a@b.test","password":"Secret123","name":"\u3164\u2800"}""", "name")]
    public async Task Invalid_registrations_are_400_naming_the_field(string json, string field)
    {
        var response = await identity.CreateClient().PostAsync("/api/identity/users", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out var messages), $"Expected the problem to name '{field}': {problem}");
        // The client's words, not the framework's ("Implicit body inferred for parameter ...").
        Assert.DoesNotContain("parameter", messages.ToString(), StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("application/json; charset=\"utf-8\"", HttpStatusCode.Created)]
    [InlineData("application/json; charset=UTF-8", HttpStatusCode.Created)]
    [InlineData("application/json; charset=x-bogus", HttpStatusCode.UnsupportedMediaType)]
    [InlineData("application/json; charset=\"\"", HttpStatusCode.UnsupportedMediaType)]
    public async Task A_declared_charset_is_read_when_dotnet_knows_it_quoted_or_not_and_is_415_naming_Content_Type_otherwise(
        string contentType, HttpStatusCode expected)
    {
        var content = new StringContent($$"""{"email":"{{NewEmail()}}","password":"Secret123","name":"Cy"}""");
        content.Headers.Remove("Content-Type");
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);

        var response = await identity.CreateClient().PostAsync("/api/identity/users", content);

        if (expected == HttpStatusCode.Created)
        {
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }
        else
        {
            await ProblemAssert.NamesField(response, "Content-Type", HttpStatusCode.UnsupportedMediaType);
        }
    }

    [Fact]
    public async Task A_client_that_does_not_accept_json_still_gets_problem_details_never_a_500_or_an_empty_body()
    {
        var client = identity.CreateClient();
        client.DefaultRequestHeaders.Accept.ParseAdd("text/html");
        var bogusCharset = new StringContent("{}");
        bogusCharset.Headers.Remove("Content-Type");
        bogusCharset.Headers.TryAddWithoutValidation("Content-Type", "application/json; charset=x-bogus");

        // Written by middleware through IProblemDetailsService.WriteAsync, which threw when no writer would (a 500).
        await ProblemAssert.NamesField(await client.PostAsync("/api/identity/users", bogusCharset), "Content-Type", HttpStatusCode.UnsupportedMediaType);
        // Written by the exception handler, which answered with an empty body.
        await ProblemAssert.NamesField(await client.PostAsync("/api/identity/users",
            new StringContent("{not json", System.Text.Encoding.UTF8, "application/json")), "body");
        // Written by the status-code pages, which answered in plain text.
        var wrongMethod = await ProblemAssert.IsProblem(await client.DeleteAsync("/api/identity/token"), HttpStatusCode.MethodNotAllowed);
        Assert.Equal("Method Not Allowed", wrongMethod.GetProperty("title").GetString());
        // The same type link a client accepting JSON gets.
        Assert.Equal("https://tools.ietf.org/html/rfc9110#section-15.5.6", wrongMethod.GetProperty("type").GetString());
        Assert.True(wrongMethod.TryGetProperty("traceId", out _), $"No traceId: {wrongMethod}");
        await ProblemAssert.IsProblem(await client.GetAsync("/api/identity/users/me"), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_body_in_another_media_type_is_415_not_401_on_anonymous_endpoints()
    {
        var client = identity.CreateClient();
        var body = """{"email":"a@b.test","password":"Secret123"}""";

        await ProblemAssert.NamesField(await client.PostAsync("/api/identity/token", new StringContent(body, System.Text.Encoding.UTF8, "text/plain")),
            "Content-Type", HttpStatusCode.UnsupportedMediaType);
        await ProblemAssert.NamesField(await client.PostAsync("/api/identity/users", new StringContent(body, System.Text.Encoding.UTF8, "text/plain")),
            "Content-Type", HttpStatusCode.UnsupportedMediaType);
        // Without any Content-Type the body reaches binding, which refuses it the same way.
        var untyped = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(body));
        await ProblemAssert.NamesField(await client.PostAsync("/api/identity/users", untyped), "Content-Type", HttpStatusCode.UnsupportedMediaType);
        // A method no route allows is a 405 problem for anyone; a protected endpoint still asks for the token first.
        await ProblemAssert.IsProblem(await client.DeleteAsync("/api/identity/token"), HttpStatusCode.MethodNotAllowed);
        await ProblemAssert.IsProblem(await client.GetAsync("/api/identity/users/me"), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Wrong_credentials_are_401()
    {
        var client = identity.CreateClient();
        var email = NewEmail();
        await client.PostAsJsonAsync("/api/identity/users", new { email, password = "Secret123", name = "Cy" });

        var wrongPassword = await client.PostAsJsonAsync("/api/identity/token", new { email, password = "Secret124" });
        var unknownUser = await client.PostAsJsonAsync("/api/identity/token", new { email = NewEmail(), password = "Secret123" });

        await ProblemAssert.IsProblem(wrongPassword, HttpStatusCode.Unauthorized);
        await ProblemAssert.IsProblem(unknownUser, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Sign_in_fields_longer_than_any_account_can_have_are_400_naming_the_field()
    {
        var client = identity.CreateClient();
        await ProblemAssert.NamesField(
            await client.PostAsJsonAsync("/api/identity/token", new { email = new string('a', 250) + "@b.test", password = "Secret123" }), "email");
        await ProblemAssert.NamesField(
            await client.PostAsJsonAsync("/api/identity/token", new { email = NewEmail(), password = new string('A', 1025) }), "password");
    }

    [Theory]
    [InlineData("a\u0000@b.test")]
    [InlineData("a\u001B[31m@b.test")]
    [InlineData("admin\u200B@mercato.local")]
    public async Task A_sign_in_address_no_account_can_have_is_400_naming_email(string email) =>
        await ProblemAssert.NamesField(
            await identity.CreateClient().PostAsJsonAsync("/api/identity/token", new { email, password = "Secret123" }), "email");

    [Fact]
    public async Task A_sign_in_address_pasted_with_a_line_break_or_spaces_around_it_still_signs_in()
    {
        var client = identity.CreateClient();
        var email = NewEmail();
        (await client.PostAsJsonAsync("/api/identity/users", new { email, password = "Secret123", name = "Di" })).EnsureSuccessStatusCode();

        var pasted = await client.PostAsJsonAsync("/api/identity/token", new { email = $"  {email}\r\n", password = "Secret123" });

        Assert.Equal(HttpStatusCode.OK, pasted.StatusCode);
    }

    [SkippableFact]
    public async Task A_sign_in_address_with_a_nul_is_400_on_postgresql_too()
    {
        // PostgreSQL refuses a NUL in a query parameter; the address must be refused before it is looked up.
        await using var database = await PostgresTestDatabase.CreateAsync("identity_nul");
        await using var identityOnPostgres = database.ScaleOutHost<Program>("identity");
        await ProblemAssert.NamesField(
            await identityOnPostgres.CreateClient().PostAsJsonAsync("/api/identity/token", new { email = "a\u0000@b.test", password = "Secret123" }), "email");
    }

    [Theory]
    [InlineData("Ann \U0001F469\u200D\U0001F4BB Mi\u200Cke")]
    [InlineData("\u05E9\u05DC\u05D5\u05DD \u200F(2)")]
    [InlineData("Donau\u00ADdampf\u00ADschiff")]
    public async Task Names_with_the_formatting_characters_writing_needs_are_accepted(string name)
    {
        // Emoji sequences and several scripts need the joiners, right-to-left text its marks, long words soft hyphens.
        var response = await identity.CreateClient().PostAsJsonAsync("/api/identity/users",
            new { email = NewEmail(), password = "Secret123", name });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task An_unknown_address_costs_the_same_hash_as_a_known_one()
    {
        var hasher = new CountingHasher();
        await using var counted = identity.WithWebHostBuilder(builder => builder.ConfigureServices(services =>
            services.AddSingleton<Microsoft.AspNetCore.Identity.IPasswordHasher<Mercato.Identity.Data.User>>(hasher)));
        var client = counted.CreateClient();
        var email = NewEmail();
        (await client.PostAsJsonAsync("/api/identity/users", new { email, password = "Secret123", name = "Di" })).EnsureSuccessStatusCode();

        var before = hasher.Verifications;
        await ProblemAssert.IsProblem(await client.PostAsJsonAsync("/api/identity/token", new { email, password = "Secret124" }), HttpStatusCode.Unauthorized);
        Assert.Equal(before + 1, hasher.Verifications);
        await ProblemAssert.IsProblem(await client.PostAsJsonAsync("/api/identity/token", new { email = NewEmail(), password = "Secret124" }), HttpStatusCode.Unauthorized);
        Assert.Equal(before + 2, hasher.Verifications);
    }

    /// <summary>The real hasher, counting its verifications.</summary>
    private sealed class CountingHasher : Microsoft.AspNetCore.Identity.IPasswordHasher<Mercato.Identity.Data.User>
    {
        private readonly Microsoft.AspNetCore.Identity.PasswordHasher<Mercato.Identity.Data.User> _real = new();
        private int _verifications;

        public int Verifications => Volatile.Read(ref _verifications);

        public string HashPassword(Mercato.Identity.Data.User user, string password) => _real.HashPassword(user, password);

        public Microsoft.AspNetCore.Identity.PasswordVerificationResult VerifyHashedPassword(
            Mercato.Identity.Data.User user, string hashedPassword, string providedPassword)
        {
            Interlocked.Increment(ref _verifications);
            return _real.VerifyHashedPassword(user, hashedPassword, providedPassword);
        }
    }

    [Fact]
    public async Task The_admin_takes_the_configured_password_at_the_next_start_when_it_changes()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "mercato-tests", Guid.NewGuid().ToString("N"));
        WebApplicationFactory<Program> Start(string password) => identity.WithWebHostBuilder(builder =>
            builder.UseSetting("Mercato:DataDir", dataDir).UseSetting("Identity:AdminPassword", password));
        try
        {
            await using (var first = Start("First-Secret-1"))
            {
                Assert.Equal(HttpStatusCode.OK, (await SignInAsync(first, "First-Secret-1")).StatusCode);
            }
            await using var rotated = Start("Rotated-Secret-2");
            Assert.Equal(HttpStatusCode.OK, (await SignInAsync(rotated, "Rotated-Secret-2")).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await SignInAsync(rotated, "First-Secret-1")).StatusCode);
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }

        static Task<HttpResponseMessage> SignInAsync(WebApplicationFactory<Program> host, string password) =>
            host.CreateClient().PostAsJsonAsync("/api/identity/token", new { email = DevAdminSeeder.AdminEmail, password });
    }

    [Fact]
    public async Task A_customer_account_holding_the_admin_address_is_never_given_the_admin_password()
    {
        // A database from before the address was reserved may have a customer on it.
        var dataDir = Path.Combine(Path.GetTempPath(), "mercato-tests", Guid.NewGuid().ToString("N"));
        try
        {
            await using (var unseeded = identity.WithWebHostBuilder(builder => builder.UseEnvironment("Production").UseSetting("Mercato:DataDir", dataDir)))
            {
                await using var scope = unseeded.Services.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<Mercato.Identity.Data.IdentityDb>();
                var customer = new Mercato.Identity.Data.User
                {
                    Id = Guid.NewGuid(), Email = DevAdminSeeder.AdminEmail, NormalizedEmail = DevAdminSeeder.AdminEmail, Name = "Early bird",
                    Roles = Mercato.ServiceDefaults.Auth.MercatoAuth.CustomerRole, CreatedAt = DateTimeOffset.UtcNow,
                };
                customer.PasswordHash = new Microsoft.AspNetCore.Identity.PasswordHasher<Mercato.Identity.Data.User>().HashPassword(customer, "Customer123");
                db.Users.Add(customer);
                await db.SaveChangesAsync();
            }
            await using var configured = identity.WithWebHostBuilder(builder =>
                builder.UseEnvironment("Production").UseSetting("Mercato:DataDir", dataDir).UseSetting("Identity:AdminPassword", "Admin-Secret-3"));
            var client = configured.CreateClient();

            Assert.Equal(HttpStatusCode.Unauthorized, (await client.PostAsJsonAsync("/api/identity/token", new { email = DevAdminSeeder.AdminEmail, password = "Admin-Secret-3" })).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync("/api/identity/token", new { email = DevAdminSeeder.AdminEmail, password = "Customer123" })).StatusCode);
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task The_admin_address_cannot_be_registered_even_before_an_admin_is_seeded()
    {
        // Outside development without Identity:AdminPassword no admin is seeded; a customer holding the address would
        // keep the admin from ever being seeded once a password is configured.
        var dataDir = Path.Combine(Path.GetTempPath(), "mercato-tests", Guid.NewGuid().ToString("N"));
        await using var unseeded = identity.WithWebHostBuilder(builder => builder.UseEnvironment("Production").UseSetting("Mercato:DataDir", dataDir));
        var response = await unseeded.CreateClient().PostAsJsonAsync("/api/identity/users",
            new { email = "Admin@Mercato.local", password = "Secret123", name = "Not the admin" });
        try
        {
            var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.Conflict);
            Assert.Equal("email", problem.GetProperty("field").GetString());
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task Injected_errors_spare_sign_in_so_a_chaos_experiment_cannot_lock_its_operator_out()
    {
        var client = identity.CreateClient();
        var policies = identity.Services.GetRequiredService<Mercato.ServiceDefaults.Resilience.PolicyStore>();
        var before = policies.Current;
        policies.Apply(new Mercato.ServiceDefaults.Resilience.MeshPolicy
        {
            Version = before.Version + 1,
            Targets = { ["identity"] = new Mercato.ServiceDefaults.Resilience.TargetPolicy { Faults = new() { ErrorRate = 1 } } },
        });
        try
        {
            var registration = await client.PostAsJsonAsync("/api/identity/users", new { email = NewEmail(), password = "Secret123", name = "Ivy" });
            Assert.Equal("error", registration.Headers.GetValues("X-Injected-Fault").Single());

            await TokenFor(DevAdminSeeder.AdminEmail, DevAdminSeeder.DevelopmentPassword);
        }
        finally
        {
            policies.Apply(before with { Version = before.Version + 2 });
        }
    }

    [Fact]
    public async Task Development_seeds_the_admin_with_the_default_password()
    {
        var token = await TokenFor(DevAdminSeeder.AdminEmail, DevAdminSeeder.DevelopmentPassword);
        var me = await identity.CreateClientWithToken(token).GetFromJsonAsync<CurrentUserResponse>("/api/identity/users/me");
        Assert.Contains("admin", me!.Roles);
    }

    [Fact]
    public async Task Tokens_are_RS256_signed_with_a_key_published_in_the_jwks()
    {
        var email = NewEmail();
        await identity.CreateClient().PostAsJsonAsync("/api/identity/users", new { email, password = "Secret123", name = "Di" });
        var token = new JwtSecurityTokenHandler().ReadJwtToken(await TokenFor(email, "Secret123"));
        var jwks = await identity.CreateClient().GetFromJsonAsync<JsonElement>("/.well-known/jwks.json");

        Assert.Equal("RS256", token.Header.Alg);
        Assert.Equal("mercato-identity", token.Issuer);
        Assert.Contains("mercato", token.Audiences);
        var key = Assert.Single(jwks.GetProperty("keys").EnumerateArray(), k => k.GetProperty("kid").GetString() == token.Header.Kid);
        Assert.Equal("RSA", key.GetProperty("kty").GetString());
        Assert.False(key.TryGetProperty("d", out _), "the private exponent must never be published");
    }

    [Fact]
    public async Task Me_without_or_with_a_bad_token_is_401()
    {
        var anonymous = await identity.CreateClient().GetAsync("/api/identity/users/me");
        var garbage = identity.CreateClient();
        garbage.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "garbage");
        var foreignKey = identity.CreateClientWithToken(identity.Tokens.Issue(Guid.NewGuid(), "admin"));

        await ProblemAssert.IsProblem(anonymous, HttpStatusCode.Unauthorized);
        await ProblemAssert.IsProblem(await garbage.GetAsync("/api/identity/users/me"), HttpStatusCode.Unauthorized);
        await ProblemAssert.IsProblem(await foreignKey.GetAsync("/api/identity/users/me"), HttpStatusCode.Unauthorized);
    }
}
