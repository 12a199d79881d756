using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mercato.Analytics.Data.Migrations
{
    /// <inheritdoc />
    public partial class EventsByTime : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_Events_OccurredAtTicks",
                table: "Events",
                column: "OccurredAtTicks");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Events_OccurredAtTicks",
                table: "Events");
        }
    }
}
