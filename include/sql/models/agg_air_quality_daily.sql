-- Daily US EPA AQI per station from the day's curated hourly readings (a SQL model: see
-- lockgate.models). Concentrations by the EPA's averaging periods: 24-hour mean for PM2.5 and PM10
-- (at least 18 hours, i.e. 75 %), highest 8-hour mean for O3 and CO (windows with at least 6 of 8
-- hours), highest hourly value for SO2, NO2 and O3 (1-hour). 8-hour windows stay within the day:
-- the model sees one logical date. Each pollutant is indexed with its own breakpoints in force on
-- the date (aqi_sub_index_on; breakpoint_revision names the PM2.5 table); the day's AQI is the
-- highest sub-index, the dominant pollutant the alphabetically first of those reaching it
-- (o3_1h/o3_8h reported as o3).
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
), concentrations AS (
    SELECT d.station_id, d.region, d.hours_observed,
           d.pm25_24h, d.pm10_24h, e.o3_8h_max, d.o3_1h_max, e.co_8h_max, d.so2_1h_max, d.no2_1h_max,
           aqi_revision_on(logical_date()) AS breakpoint_revision
    FROM daily AS d
    LEFT JOIN eight_hour AS e ON e.station_id = d.station_id
), sub_indices AS (
    SELECT c.*,
           aqi_sub_index_on('co', c.co_8h_max, logical_date()) AS si_co,
           aqi_sub_index_on('no2', c.no2_1h_max, logical_date()) AS si_no2,
           aqi_sub_index_on('o3_1h', c.o3_1h_max, logical_date()) AS si_o3_1h,
           aqi_sub_index_on('o3_8h', c.o3_8h_max, logical_date()) AS si_o3_8h,
           aqi_sub_index_on('pm10', c.pm10_24h, logical_date()) AS si_pm10,
           aqi_sub_index_on('pm25', c.pm25_24h, logical_date()) AS si_pm25,
           aqi_sub_index_on('so2', c.so2_1h_max, logical_date()) AS si_so2
    FROM concentrations AS c
), daily_aqi AS (
    SELECT s.*, greatest(s.si_co, s.si_no2, s.si_o3_1h, s.si_o3_8h, s.si_pm10, s.si_pm25, s.si_so2) AS aqi
    FROM sub_indices AS s
)
SELECT a.station_id,
       a.region,
       a.aqi,
       aqi_category(a.aqi) AS category,
       CASE a.aqi
           WHEN a.si_co THEN 'co'
           WHEN a.si_no2 THEN 'no2'
           WHEN a.si_o3_1h THEN 'o3'
           WHEN a.si_o3_8h THEN 'o3'
           WHEN a.si_pm10 THEN 'pm10'
           WHEN a.si_pm25 THEN 'pm25'
           WHEN a.si_so2 THEN 'so2'
       END AS dominant_pollutant,
       a.pm25_24h, a.pm10_24h, a.o3_8h_max, a.o3_1h_max, a.co_8h_max, a.so2_1h_max, a.no2_1h_max,
       a.hours_observed,
       a.breakpoint_revision
FROM daily_aqi AS a
ORDER BY a.station_id
