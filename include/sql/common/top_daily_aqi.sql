{# The worst stations of a day, for the run summary. #}
SELECT station_id, region, aqi, category, dominant_pollutant
FROM {{ table }}
WHERE {{ 'ds' | ident }} = $1
ORDER BY aqi DESC, station_id
LIMIT {{ limit }};
