using System.Net.Mail;
using Mercato.Identity.Data;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Http;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Identity;

public sealed record RegisterUserRequest(string? Email, string? Password, string? Name);

public sealed record TokenRequest(string? Email, string? Password);

public sealed record UserResponse(Guid Id, string Email, string Name);

public sealed record CurrentUserResponse(Guid Id, string Email, string Name, IReadOnlyList<string> Roles);

public sealed record TokenResponse(
    [property: System.Text.Json.Serialization.JsonPropertyName("access_token")] string AccessToken,
    [property: System.Text.Json.Serialization.JsonPropertyName("token_type")] string TokenType,
    [property: System.Text.Json.Serialization.JsonPropertyName("expires_in")] int ExpiresIn);

public static class UserEndpoints
{
    private const int MaxEmailLength = 254;
    private const int MaxSignInPasswordLength = 1024;

    /// <summary>A hash checked when no account has the address, so both answers take one hash.</summary>
    private static class Unknown
    {
        private static readonly User Nobody = new() { Email = "", NormalizedEmail = "", Name = "", Roles = "" };
        private static string? _hash;

        public static void Verify(IPasswordHasher<User> hasher, string password)
        {
            _hash ??= hasher.HashPassword(Nobody, Guid.NewGuid().ToString());
            hasher.VerifyHashedPassword(Nobody, _hash, password);
        }
    }

    public static void MapUserEndpoints(this WebApplication app)
    {
        var identity = app.MapGroup("/api/identity").WithTags("Identity");

        identity.MapPost("/users", RegisterAsync).AllowAnonymous()
            .Produces<UserResponse>(StatusCodes.Status201Created).ProducesProblem(StatusCodes.Status409Conflict);
        identity.MapPost("/token", IssueTokenAsync).AllowAnonymous()
            .Produces<TokenResponse>().ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        identity.MapGet("/users/me", CurrentUserAsync).Produces<CurrentUserResponse>().ProducesProblem(StatusCodes.Status404NotFound);
        // Where a registration's Location points.
        identity.MapGet("/users/{id:guid}", UserAsync).Produces<CurrentUserResponse>().ProducesProblem(StatusCodes.Status404NotFound);

        app.MapGet("/.well-known/jwks.json", (TokenIssuer issuer, CancellationToken ct) => issuer.GetJwksAsync(ct))
            .AllowAnonymous().WithTags("Identity");
    }

    private static async Task<IResult> RegisterAsync(
        RegisterUserRequest request, IdentityDb db, IPasswordHasher<User> hasher, TimeProvider time, CancellationToken ct)
    {
        var errors = Validate(request);
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }
        var email = request.Email!.Trim();
        // The address the seeder gives the admin is not for anyone else, even before an admin exists: a customer holding
        // it would stop the admin from ever being seeded.
        if (string.Equals(email, DevAdminSeeder.AdminEmail, StringComparison.OrdinalIgnoreCase))
        {
            return EmailTaken();
        }
        var user = new User
        {
            Id = Guid.CreateVersion7(),
            Email = email,
            NormalizedEmail = email.ToLowerInvariant(),
            Name = request.Name!.Trim(),
            Roles = MercatoAuth.CustomerRole,
            CreatedAt = time.GetUtcNow(),
        };
        user.PasswordHash = hasher.HashPassword(user, request.Password!);
        if (await db.Users.AnyAsync(u => u.NormalizedEmail == user.NormalizedEmail, ct))
        {
            return EmailTaken();
        }
        db.Users.Add(user);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex) when (DatabaseErrors.IsUniqueViolation(ex))
        {
            // Lost a race with a concurrent registration of the same address: the unique index decided. Any other
            // failure goes on to the exception handler (a database that is down or busy is a 503 there).
            return EmailTaken();
        }
        return Results.Created($"/api/identity/users/{user.Id}", new UserResponse(user.Id, user.Email, user.Name));
    }

    private static async Task<IResult> IssueTokenAsync(
        TokenRequest request, IdentityDb db, IPasswordHasher<User> hasher, TokenIssuer issuer, SignInLockout lockout,
        HttpResponse response, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(request.Email) || request.Email.Length > MaxEmailLength)
        {
            errors["email"] = [$"Required, at most {MaxEmailLength} characters."];
        }
        else if (!InputText.IsCleanIdentifier(request.Email.Trim()))
        {
            // No account has such an address (registration refuses it), and PostgreSQL refuses a NUL in a query outright.
            // Trimmed first, as for the lookup: an address pasted with a line break after it still signs in.
            errors["email"] = [InputText.Refusal];
        }
        // Longer than any password an account can have (registration allows 128; the seeded admin's comes from
        // configuration): a megabyte would still be hashed, and spend one of the account's attempts.
        if (string.IsNullOrEmpty(request.Password) || request.Password.Length > MaxSignInPasswordLength)
        {
            errors["password"] = [$"Required, at most {MaxSignInPasswordLength} characters."];
        }
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }
        var normalized = request.Email!.Trim().ToLowerInvariant();
        var user = await db.Users.AsNoTracking().SingleOrDefaultAsync(u => u.NormalizedEmail == normalized, ct);
        // Checked and counted before the password: a locked account costs no hash, and guessing it right changes nothing.
        if (user is not null && (lockout.RemainingLockout(user) is not null || !await lockout.TryTakeAttemptAsync(user, ct)))
        {
            var now = await db.Users.AsNoTracking().SingleAsync(u => u.Id == user.Id, ct);
            var remaining = lockout.RemainingLockout(now) ?? await lockout.LockIfAttemptsWereLostAsync(now);
            var seconds = remaining is { } locked ? (int)Math.Ceiling(locked.TotalSeconds) : 1;
            response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Account locked",
                detail: $"Too many wrong passwords for this account, or sign-ins at once; try again in {seconds} seconds.");
        }
        if (user is null)
        {
            // An unknown address costs the same hash as a known one: answering it sooner would tell which addresses
            // have accounts.
            Unknown.Verify(hasher, request.Password!);
            return InvalidCredentials();
        }
        if (hasher.VerifyHashedPassword(user, user.PasswordHash, request.Password!) == PasswordVerificationResult.Failed)
        {
            await lockout.LockIfSpentAsync(user);
            return InvalidCredentials();
        }
        await lockout.RecordSuccessAsync(user);
        var token = await issuer.IssueAsync(user, ct);
        return Results.Ok(new TokenResponse(token, "Bearer", (int)TokenIssuer.Lifetime.TotalSeconds));
    }

    private static async Task<IResult> CurrentUserAsync(HttpContext http, IdentityDb db, CancellationToken ct)
    {
        if (!Guid.TryParse(http.User.FindFirst(MercatoAuth.SubjectClaim)?.Value, out var id))
        {
            return Results.Unauthorized();
        }
        return await UserByIdAsync(db, id, ct);
    }

    /// <summary>A user's account, for that user or an admin; to anyone else it does not exist.</summary>
    private static async Task<IResult> UserAsync(Guid id, HttpContext http, IdentityDb db, CancellationToken ct)
    {
        var self = Guid.TryParse(http.User.FindFirst(MercatoAuth.SubjectClaim)?.Value, out var caller) && caller == id;
        return self || http.User.IsInRole(MercatoAuth.AdminRole) ? await UserByIdAsync(db, id, ct) : UserNotFound();
    }

    private static async Task<IResult> UserByIdAsync(IdentityDb db, Guid id, CancellationToken ct)
    {
        var user = await db.Users.AsNoTracking().SingleOrDefaultAsync(u => u.Id == id, ct);
        return user is null ? UserNotFound() : Results.Ok(new CurrentUserResponse(user.Id, user.Email, user.Name, user.RoleList));
    }

    private static IResult UserNotFound() => Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "User not found");

    private static IResult InvalidCredentials() =>
        Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Invalid credentials", detail: "The e-mail or password is wrong.");

    private static IResult EmailTaken() =>
        Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "E-mail already registered",
            detail: "An account with this e-mail address exists.", extensions: new Dictionary<string, object?> { ["field"] = "email" });

    private static Dictionary<string, string[]> Validate(RegisterUserRequest request)
    {
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(request.Email) || request.Email.Length > MaxEmailLength || !IsEmail(request.Email.Trim()))
        {
            errors["email"] = ["A valid e-mail address is required."];
        }
        else if (!InputText.IsCleanIdentifier(request.Email))
        {
            errors["email"] = [InputText.Refusal];
        }
        if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Trim().Length > 100)
        {
            errors["name"] = ["Required, at most 100 characters."];
        }
        else if (InputText.NameProblem(request.Name) is { } nameProblem)
        {
            errors["name"] = [nameProblem];
        }
        var passwordProblems = PasswordPolicy.Check(request.Password);
        if (passwordProblems.Length > 0)
        {
            errors["password"] = passwordProblems;
        }
        return errors;
    }

    private static bool IsEmail(string value) =>
        MailAddress.TryCreate(value, out var address) && address.Address == value && value.Contains('.', StringComparison.Ordinal);
}

public static class PasswordPolicy
{
    public static string[] Check(string? password)
    {
        if (string.IsNullOrEmpty(password))
        {
            return ["Required."];
        }
        var problems = new List<string>();
        if (password.Length < 8)
        {
            problems.Add("At least 8 characters.");
        }
        if (password.Length > 128)
        {
            problems.Add("At most 128 characters.");
        }
        if (!password.Any(char.IsUpper) || !password.Any(char.IsLower))
        {
            problems.Add("Upper and lower case letters.");
        }
        if (!password.Any(char.IsDigit))
        {
            problems.Add("At least one digit.");
        }
        return [.. problems];
    }
}
