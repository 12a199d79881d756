using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mercato.Catalog.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class SearchWithoutStopWords : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // The search vector through English stemming without English stop words: the 'english' configuration dropped
            // "in", "over", "for"... even as prefixes of longer words, so PostgreSQL found nothing where SQLite's FTS5
            // (Porter stemming, no stop words) found products. Both now require every word.
            migrationBuilder.Sql("""
                CREATE TEXT SEARCH DICTIONARY mercato_english_stem (TEMPLATE = snowball, LANGUAGE = english);
                CREATE TEXT SEARCH CONFIGURATION mercato_search (COPY = english);
                ALTER TEXT SEARCH CONFIGURATION mercato_search ALTER MAPPING REPLACE english_stem WITH mercato_english_stem;
                """);
            SearchVector(migrationBuilder, "mercato_search");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            SearchVector(migrationBuilder, "english");
            migrationBuilder.Sql("""
                DROP TEXT SEARCH CONFIGURATION mercato_search;
                DROP TEXT SEARCH DICTIONARY mercato_english_stem;
                """);
        }

        private static void SearchVector(MigrationBuilder migrationBuilder, string configuration) =>
            migrationBuilder.Sql($"""
                DROP INDEX "IX_Products_SearchVector";
                ALTER TABLE "Products" DROP COLUMN "SearchVector";
                ALTER TABLE "Products" ADD COLUMN "SearchVector" tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('{configuration}', coalesce("Name", '')), 'A') ||
                    setweight(to_tsvector('{configuration}', coalesce("Description", '')), 'B')) STORED;
                CREATE INDEX "IX_Products_SearchVector" ON "Products" USING GIN ("SearchVector");
                """);
    }
}
