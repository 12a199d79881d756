using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mercato.Notification.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class NotificationSentAt : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "SentAt",
                table: "Notifications",
                type: "timestamp with time zone",
                nullable: true);
            // Before this column a notification was sent by the handler that recorded it: every row already there was sent.
            migrationBuilder.Sql("UPDATE \"Notifications\" SET \"SentAt\" = \"CreatedAt\" WHERE \"SentAt\" IS NULL;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "SentAt",
                table: "Notifications");
        }
    }
}
