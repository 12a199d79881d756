using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mercato.Basket.Data.Migrations
{
    /// <inheritdoc />
    public partial class CheckoutAnsweredAt : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "AnsweredAtTicks",
                table: "Checkouts",
                type: "INTEGER",
                nullable: true);

            // Checkouts answered before the column existed count as answered now: each keeps its full retention window.
            migrationBuilder.Sql(
                $"UPDATE \"Checkouts\" SET \"AnsweredAtTicks\" = {System.DateTimeOffset.UtcNow.UtcTicks} WHERE \"ResponseStatus\" IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "IX_Checkouts_AnsweredAtTicks",
                table: "Checkouts",
                column: "AnsweredAtTicks");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Checkouts_AnsweredAtTicks",
                table: "Checkouts");

            migrationBuilder.DropColumn(
                name: "AnsweredAtTicks",
                table: "Checkouts");
        }
    }
}
