{#- Macros per dialect, the way dbt's adapter.dispatch resolves them: define
    `bigquery__NAME` and `duckdb__NAME` (or `default__NAME`), then call `NAME(...)` in any view
    or query. bqflow imports the right one for the target being rendered. -#}

{% macro bigquery__hour_label(ts) -%}
FORMAT_TIMESTAMP('%H:00', {{ ts }})
{%- endmacro %}

{% macro duckdb__hour_label(ts) -%}
strftime({{ ts }}, '%H:00')
{%- endmacro %}

{#- Revenue of a sale line, exact (NUMERIC on BigQuery, DECIMAL on DuckDB). -#}
{% macro default__line_revenue(alias) -%}
{{ alias }}.quantity * {{ alias }}.unit_price
{%- endmacro %}
