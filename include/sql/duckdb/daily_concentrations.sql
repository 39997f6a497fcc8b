{#
  Daily pollutant concentrations per station from the hourly readings, by the EPA's averaging
  periods: 24-hour mean for PM2.5 and PM10 (at least 18 hours, i.e. 75 %), highest 8-hour mean for
  O3 and CO (windows with at least 6 of 8 hours), highest hourly value for SO2, NO2 and O3 (1-hour).
  8-hour windows stay within the day: the run sees one logical date. Runs on the lake (DuckDB),
  whatever the warehouse is; `readings` is a view over the day's curated Parquet files.
#}
WITH rolling AS (
    SELECT station_id, pollutant,
           avg(value) OVER w AS mean_8h,
           count(value) OVER w AS hours_8h
    FROM readings
    WHERE pollutant IN ('o3', 'co')
    WINDOW w AS (
        PARTITION BY station_id, pollutant ORDER BY observed_at
        RANGE BETWEEN INTERVAL 7 HOURS PRECEDING AND CURRENT ROW
    )
), eight_hour AS (
    SELECT station_id,
           max(mean_8h) FILTER (WHERE pollutant = 'o3' AND hours_8h >= 6) AS o3_8h_max,
           max(mean_8h) FILTER (WHERE pollutant = 'co' AND hours_8h >= 6) AS co_8h_max
    FROM rolling
    GROUP BY station_id
), daily AS (
    SELECT station_id,
           any_value(region ORDER BY observed_at) AS region,
           count(DISTINCT observed_at) AS hours_observed,
           CASE WHEN count(value) FILTER (WHERE pollutant = 'pm25') >= 18
                THEN avg(value) FILTER (WHERE pollutant = 'pm25') END AS pm25_24h,
           CASE WHEN count(value) FILTER (WHERE pollutant = 'pm10') >= 18
                THEN avg(value) FILTER (WHERE pollutant = 'pm10') END AS pm10_24h,
           max(value) FILTER (WHERE pollutant = 'o3') AS o3_1h_max,
           max(value) FILTER (WHERE pollutant = 'so2') AS so2_1h_max,
           max(value) FILTER (WHERE pollutant = 'no2') AS no2_1h_max
    FROM readings
    GROUP BY station_id
)
SELECT d.station_id, d.region, d.hours_observed,
       d.pm25_24h, d.pm10_24h, e.o3_8h_max, d.o3_1h_max, e.co_8h_max, d.so2_1h_max, d.no2_1h_max
FROM daily AS d
LEFT JOIN eight_hour AS e USING (station_id)
ORDER BY d.station_id
