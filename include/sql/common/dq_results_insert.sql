INSERT INTO {{ table }} SELECT * FROM {{ staging }};
