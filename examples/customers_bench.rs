//! Benchmark (not a test): a million customers in one company (issue 11, target 2). Generates
//! N customers set-wise (a few `INSERT … SELECT … FROM generate_series` statements: US states by
//! population, several task types, ~1% test, ~3% do-not-call, 2% without a last name, created
//! over two years), then measures over HTTP, against the server as its own process, the first
//! page of every sort × direction with each filter, keyset pages, `search`, `totalCount` and
//! `totalCountEstimate`, each as p50/p99 over `--requests` requests.
//!
//!     cargo build --release --bins --examples
//!     target/release/examples/customers_bench [--customers 1000000] [--requests 60]
//!
//! Uses DATABASE_URL (a throwaway database on it) or a throwaway cluster.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text, Uuid as SqlUuid};
use serde_json::{json, Value};
use uuid::Uuid;

mod common;
use common::{ms, percentile, BenchDb, Server};

struct Args {
    customers: i64,
    requests: usize,
}

fn args() -> Args {
    let mut a = Args { customers: 1_000_000, requests: 60 };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse::<i64>().ok());
        match (flag.as_str(), value) {
            ("--customers", Some(v)) if v > 0 => a.customers = v,
            ("--requests", Some(v)) if v > 0 => a.requests = v as usize,
            _ => panic!("usage: customers_bench [--customers N] [--requests R]"),
        }
    }
    a
}

const FIRST_NAMES: &str = "\
    James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara \
    Richard Susan Joseph Jessica Thomas Sarah Christopher Karen Charles Lisa Daniel Nancy \
    Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily Paul \
    Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah Timothy \
    Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey Cynthia Ryan Dorothy Jacob Amy \
    Gary Kathleen Nicholas Angela Eric Shirley Jonathan Emma Stephen Brenda Larry Pamela Justin \
    Nicole Scott Anna Brandon Samantha Benjamin Katherine Samuel Christine Gregory Debra \
    Alexander Rachel Patrick Carolyn Frank Janet Raymond Maria Jack Olivia Dennis Heather Jerry \
    Helen Tyler Catherine Aaron Diane Jose Julie Adam Victoria Nathan Joyce Henry Lauren Zachary \
    Kelly Douglas Christina Peter Ruth Kyle Joan Noah Virginia Ethan Judith Jeremy Evelyn \
    Christian Hannah Walter Andrea Keith Megan Austin Cheryl Roger Jacqueline Terry Madison Sean \
    Teresa Gerald Abigail Carl Sophia Dylan Martha Harold Sara Jordan Gloria Jesse Janice Bryan \
    Kathryn Lawrence Ann Arthur Isabella Gabriel Judy Bruce Charlotte Logan Julia Billy Grace \
    Joe Amber Alan Alice Juan Jean Elijah Denise Willie Frances Albert Danielle Wayne Marilyn \
    Randy Natalie Mason Beverly Vincent Diana Liam Brittany Roy Theresa Bobby Kayla Caleb Alexis \
    Bradley Doris Russell Lori Lucas Tiffany";

const LAST_NAMES: &str = "\
    Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez \
    Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris \
    Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill \
    Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips \
    Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook \
    Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward \
    Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez \
    Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan \
    Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson \
    Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera \
    Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison \
    Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker \
    Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason \
    Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox \
    Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan \
    Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos \
    Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews \
    Alvarado Ray Delgado Berry Perkins Hoffman Johnston Matthews Pena Richards Contreras Willis \
    Carpenter Lawrence Sandoval Guerrero George Chapman Rios Estrada Ortega Watkins Greene Nunez \
    Wheeler Valdez Harper Burke Larson Santiago Maldonado Morrison Franklin Carlson Austin \
    Dominguez Carr Lawson Jacobs OBrien Lynch Singh Vega Bishop Montgomery Oliver Jensen Harvey \
    Williamson Gilbert Dean Sims Espinoza Howell Li Wong Reid Hanson Le McCoy Garrett Burton \
    Fuller Wang Weber Welch Rojas Lucas Marquez Fields Park Yang Little Banks Padilla Day Walsh \
    Bowman Schultz Luna Fowler Mejia Davidson Acosta Brewer May Holland Juarez Newman Pearson \
    Curtis Cortez Douglas Schneider Joseph Barrett Navarro Figueroa Keller Avila Wade Molina \
    Stanley Hopkins Campos Barnett Bates Chambers Caldwell Beck Lambert Miranda Byrd Craig Ayala \
    Lowe Frazier Powers Neal Leonard Gregory Carrillo Sutton Fleming Rhodes Shelton Schwartz \
    Norris Jennings Watts Duran Walters Cohen McDaniel Moran Parks Steele Vaughn Becker Holt \
    DeLeon Barker Terry Hale Leon Hail Benson Haynes Horton Miles Lyons Pham Graves Bush \
    Thornton Wolfe Warner Cabrera McKinney Mann Zimmerman Dawson Lara Fletcher Page McCarthy \
    Love Robles Cervantes Solis Erickson Reeves Chang Klein Salinas Fuentes Baldwin Daniel Simon \
    Velasquez Hardy Higgins Aguirre Lin Cummings Chandler Sharp Barber Bowen Ochoa Dennis \
    Robbins Liu Ramsey Francis Griffith Paul Blair OConnor Cardenas Pacheco Cross Calderon Quinn \
    Moss Swanson Chan Rivas Khan Rodgers Serrano Fitzgerald Rosales Stevenson Christensen \
    Manning Gill Curry McLaughlin Harmon McGee Gross Doyle Garner Newton Burgess Reese Walton \
    Blake Trujillo Adkins Brady Goodman Roman Webster Goodwin Fischer Huang Potter Delacruz \
    Montoya Todd Wu Hines Mullins Castaneda Malone Cannon Tate Mack Sherman Hubbard Hodges Zhang \
    Guerra Wolf Valencia Saunders Franco Rowe Gallagher Farmer Hammond Hampton Townsend Ingram \
    Wise Gallegos Clarke Barton Schroeder Maxwell Waters Logan Camacho Strickland Norman Person \
    Colon Parsons Frank Harrington Glover Osborne Buchanan Casey Floyd Patton Ibarra Ball Tyler \
    Suarez Bowers Orozco Salas Cobb Gibbs Andrade Bauer Conner Moody Escobar McGuire Lloyd \
    Mueller Hartman French Kramer McBride Pope Lindsey Velazquez Norton McCormick Sparks Flynn \
    Yates Hogan Marsh Macias Villanueva Zamora Pratt Stokes Owen Ballard Lang Brock Villarreal \
    Charles Drake Barrera Cain Patrick Pineda Burnett Mercado Santana Shepherd Bautista Ali \
    Shaffer Lamb Trevino McKenzie Hess Beil Olsen Cochran Morton Nash Wilkins Petersen Briggs \
    Shah Roth Nicholson Holloway Lozano Rangel Flowers Hoover Short Arias Mora Valenzuela Bryan \
    Meyers Weiss Underwood Bass Greer Summers Houston Carson Morrow Clayton Whitaker Decker \
    Yoder Collier Zuniga Carey Wilcox Melendez Poole Roberson Larsen Conley Davenport Copeland \
    Massey Lam Huff Rocha Cameron Jefferson Hood Monroe Anthony Pittman Huynh Randall Singleton \
    Kirk Combs Mathis Christian Skinner Bradford Richard Galvan Wall Boone Kirby Wilkinson \
    Bridges Bruce Atkinson Velez Meza Roy Vincent York Hodge Villa Abbott Allison Tapia Gates \
    Chase Sosa Sweeney Farrell Wyatt Dalton Horn Barron Phelps Yu Dickerson Heath Foley Atkins \
    Mathews Bonilla Acevedo Benitez Zavala Hensley Glenn Cisneros Harrell Shields Rubio Huffman \
    Choi Boyer Garrison Arroyo Bond Kane Hancock Callahan Dillon Cline Wiggins Grimes Arellano \
    Melton ONeill Savage Ho Beltran Pitts Parrish Ponce Rich Booth Koch Golden Ware Brennan \
    McDowell Marks Cantu Humphrey Baxter Sawyer Clay Tanner Hutchinson Kaur Berg Wiley Gilmore \
    Russo Villegas Hobbs Keith Wilkerson Ahmed Beard McClain Montes Mata Rosario Vang Walter \
    Henson ONeal Mosley McClure Beasley Stephenson Snow Huerta Preston Vance Barry Johns Eaton \
    Blackwell Dyer Prince MacDonald Solomon Guevara Stafford English Hurst Woodard Cortes \
    Shannon Kemp Nolan McCullough Merritt Murillo Moon Salgado Strong Kline Cordova Barajas \
    Roach Rosas Winters Jacobson Lester Knox Bullock Kerr Leach Meadows Davila Orr Whitehead \
    Pruitt Kent Conway McKee Barr David Dejesus Marin Berger McIntyre Blankenship Gaines \
    Palacios Cuevas Bartlett Durham Dorsey McCall ODonnell Stein Browning Stout Lowery Sloan \
    McLean Hendricks Calhoun Sexton Chung Gentry Hull Duarte Ellison Nielsen Gillespie Buck \
    Middleton Sellers Leblanc Esparza Hardin Bradshaw McIntosh Howe Livingston Frost Glass Morse \
    Knapp Herman Stark Bravo Noble Spears Weeks Corona Frederick Buckley McFarland Hebert \
    Enriquez Hickman Quintero Randolph Schaefer Walls Trejo House Reilly Pennington Michael \
    Conrad Giles Benjamin Crosby Fitzpatrick Donovan Mays Mahoney Valentine Raymond Medrano Hahn \
    McMillan Small Bentley Felix Peck Lucero Boyle Hanna Pace Rush Hurley Harding McConnell \
    Bernal Nava Ayers Everett Ventura Avery Pugh Mayer Bender Shepard McMahon Landry Case \
    Sampson Moses Magana Blackburn Dunlap Gould Duffy Vaughan Herring McKay Espinosa Rivers \
    Farley Bernard Ashley Friedman Potts Truong Costa Correa Blevins Nixon Clements Fry Delarosa \
    Best Benton Lugo Portillo Dougherty Crane Haley Phan Villalobos Blanchard Horne Finley \
    Quintana Lynn Esquivel Bean Dodson Mullen Xiong Hayden Cano Levy Huber Richmond Moyer Lim \
    Frye Sheppard McCarty Avalos Booker Waller Parra Woodward Jaramillo Krueger Rasmussen Brandt \
    Peralta Donaldson Stuart Faulkner Maynard Galindo Coffey Estes Sanford Burch Maddox Vo \
    OConnell Vu Andersen Spence McPherson Church Schmitt Stanton Leal Cherry Compton Dudley \
    Sierra Pollard Alfaro Hester Proctor Lu Hinton Novak Good Madden McCann Terrell Jarvis \
    Dickson Reyna Cantrell Mayo Branch Hendrix Rollins Rowland Whitney Duke Odom Daugherty \
    Travis Tang Archer";

/// Population shares of the states in tenths of a percent (2020 census, rounded), with a
/// timezone each.
const STATES: &str = "
    ('CA', 118, 'America/Los_Angeles'), ('TX', 88, 'America/Chicago'),
    ('FL', 65, 'America/New_York'), ('NY', 61, 'America/New_York'), ('PA', 39, 'America/New_York'),
    ('IL', 38, 'America/Chicago'), ('OH', 35, 'America/New_York'), ('GA', 32, 'America/New_York'),
    ('NC', 31, 'America/New_York'), ('MI', 30, 'America/Detroit'), ('NJ', 28, 'America/New_York'),
    ('VA', 26, 'America/New_York'), ('WA', 23, 'America/Los_Angeles'),
    ('AZ', 22, 'America/Phoenix'), ('MA', 21, 'America/New_York'), ('TN', 21, 'America/Chicago'),
    ('IN', 20, 'America/Indiana/Indianapolis'), ('MD', 19, 'America/New_York'),
    ('MO', 19, 'America/Chicago'), ('WI', 18, 'America/Chicago'), ('CO', 17, 'America/Denver'),
    ('MN', 17, 'America/Chicago'), ('SC', 16, 'America/New_York'), ('AL', 15, 'America/Chicago'),
    ('LA', 14, 'America/Chicago'), ('KY', 14, 'America/New_York'),
    ('OR', 13, 'America/Los_Angeles'), ('OK', 12, 'America/Chicago'),
    ('CT', 11, 'America/New_York'), ('UT', 10, 'America/Denver'), ('IA', 10, 'America/Chicago'),
    ('NV', 9, 'America/Los_Angeles'), ('AR', 9, 'America/Chicago'), ('MS', 9, 'America/Chicago'),
    ('KS', 9, 'America/Chicago'), ('NM', 6, 'America/Denver'), ('NE', 6, 'America/Chicago'),
    ('ID', 6, 'America/Boise'), ('WV', 5, 'America/New_York'), ('HI', 4, 'Pacific/Honolulu'),
    ('NH', 4, 'America/New_York'), ('ME', 4, 'America/New_York'), ('RI', 3, 'America/New_York'),
    ('MT', 3, 'America/Denver'), ('DE', 3, 'America/New_York'), ('SD', 3, 'America/Chicago'),
    ('ND', 2, 'America/Chicago'), ('AK', 2, 'America/Anchorage'), ('DC', 2, 'America/New_York'),
    ('VT', 2, 'America/New_York'), ('WY', 2, 'America/Denver')";

/// One slice of the customers `from..=to`, set-wise. A customer's fields come from a fixed
/// permutation `h` of its number (so ids, names and phones do not follow insertion order) and
/// from `random()` (state, last name, flags, times).
fn insert_sql() -> String {
    format!(
        "INSERT INTO customers (company_id, external_id, first_name, last_name, email, birthday,
           ssn_last_four, phone_number, timezone, task_type, street_address1, city, state, zip_code,
           do_not_call, is_test, created_at, updated_at)
         WITH states AS (
           SELECT (row_number() OVER (ORDER BY code, k) - 1)::int AS slot, code, zone
           FROM (VALUES {STATES}) AS s(code, share, zone), generate_series(1, share) AS k
         ), firsts AS (
           SELECT (k - 1)::int AS k, v FROM unnest($4::text[]) WITH ORDINALITY AS u(v, k)
         ), lasts AS (
           SELECT (k - 1)::int AS k, v FROM unnest($5::text[]) WITH ORDINALITY AS u(v, k)
         )
         SELECT $1,
           'L' || lpad(h::text, 10, '0'),
           f.v,
           CASE WHEN r_null < 0.02 THEN NULL ELSE l.v END,
           lower(f.v || '.' || l.v) || (h % 1000) || '@'
             || (ARRAY['gmail.com','yahoo.com','hotmail.com','outlook.com','aol.com','icloud.com',
                       'comcast.net','msn.com','att.net','live.com'])[1 + (h / 13) % 10],
           date '1950-01-01' + (h % 18000)::int,
           lpad((h % 10000)::text, 4, '0'),
           '+1' || (201 + (h / 11) % 780) || lpad((h * 7 % 10000000)::text, 7, '0'),
           s.zone,
           (ARRAY['collections','collections','collections','collections','collections','collections',
                  'reminder','reminder','reminder','welcome','welcome','recovery'])[1 + (h / 17) % 12],
           (h % 9000 + 100) || ' Main St',
           'Springfield',
           s.code,
           lpad((h % 99999 + 1)::text, 5, '0'),
           r_flags < 0.03,
           r_flags >= 0.03 AND r_flags < 0.04,
           now() - interval '730 days' * r_created,
           now() - interval '730 days' * r_created * r_updated
         FROM (
           SELECT h, (h / 7 % cardinality($4::text[]))::int AS first_k,
             -- roughly Zipf: a few last names are common, most are rare
             floor(cardinality($5::text[]) * random() ^ 2.2)::int AS last_k,
             floor(random() * (SELECT count(*) FROM states))::int AS state_k,
             random() AS r_null, random() AS r_flags, random() AS r_created, random() AS r_updated
           FROM generate_series($2::bigint, $3::bigint) AS i,
             LATERAL (SELECT i * 48271 % 2147483647 AS h) AS x
           OFFSET 0
         ) AS seq
         JOIN firsts f ON f.k = seq.first_k JOIN lasts l ON l.k = seq.last_k
         JOIN states s ON s.slot = seq.state_k"
    )
}

#[derive(QueryableByName)]
struct Def {
    #[diesel(sql_type = Text)]
    def: String,
}

fn session(url: &str) -> PgConnection {
    let mut conn = PgConnection::establish(url).expect("connect");
    conn.batch_execute(
        "SET synchronous_commit = off; SET maintenance_work_mem = '256MB'; SET work_mem = '64MB';
         SET enable_mergejoin = off",
    )
    .expect("session settings");
    conn
}

/// Loads `n` customers into the (empty) company the way a bulk load would: the table's
/// secondary indexes are dropped, the rows inserted by two sessions in parallel, the indexes
/// re-created from their own definitions (two sessions again), then VACUUM ANALYZE.
fn generate(url: &str, company_id: Uuid, n: i64) -> BTreeMap<&'static str, Duration> {
    let mut times = BTreeMap::new();
    let mut conn = session(url);
    let defs: Vec<String> = diesel::sql_query(
        "SELECT pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
         WHERE i.indrelid = 'customers'::regclass
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
    )
    .load::<Def>(&mut conn)
    .expect("index definitions")
    .into_iter()
    .map(|d| d.def)
    .collect();
    for def in &defs {
        let name = def.split_whitespace().nth(2).expect("index name");
        conn.batch_execute(&format!("DROP INDEX {name}")).expect("drop index");
    }
    let started = Instant::now();
    let half = n / 2;
    std::thread::scope(|s| {
        for (from, to) in [(1, half), (half + 1, n)] {
            s.spawn(move || {
                if from > to {
                    return;
                }
                let firsts: Vec<&str> = FIRST_NAMES.split_whitespace().collect();
                let lasts: Vec<&str> = LAST_NAMES.split_whitespace().collect();
                diesel::sql_query(insert_sql())
                    .bind::<SqlUuid, _>(company_id)
                    .bind::<BigInt, _>(from)
                    .bind::<BigInt, _>(to)
                    .bind::<Array<Text>, _>(firsts)
                    .bind::<Array<Text>, _>(lasts)
                    .execute(&mut session(url))
                    .expect("insert customers");
            });
        }
    });
    times.insert("insert", started.elapsed());
    let started = Instant::now();
    // The trigram index takes longest: one session builds it, the other every btree.
    let (gin, btree): (Vec<&String>, Vec<&String>) = defs.iter().partition(|d| d.contains(" gin "));
    std::thread::scope(|s| {
        for group in [gin, btree] {
            s.spawn(move || {
                let mut conn = session(url);
                for def in group {
                    conn.batch_execute(def).expect("create index");
                }
            });
        }
    });
    times.insert("indexes", started.elapsed());
    let started = Instant::now();
    conn.batch_execute("VACUUM ANALYZE customers").expect("vacuum analyze");
    times.insert("vacuum analyze", started.elapsed());
    times
}

const LIST: &str = "query($f: CustomerFilter, $o: CustomerOrderField, $d: OrderDirection, $a: String) {
  customers(filter: $f, orderBy: $o, orderDirection: $d, first: 50, after: $a) {
    nodes { id } pageInfo { hasNextPage endCursor } } }";

struct Client {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Client {
    /// The query's `customers` field, and how long the request took.
    async fn customers(&self, query: &str, variables: Value) -> (Value, Duration) {
        let started = Instant::now();
        let response: Value = self
            .http
            .post(&self.url)
            .header("X-API-Key", &self.key)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON response");
        let took = started.elapsed();
        assert!(response.get("errors").is_none(), "{response}");
        (response["data"]["customers"].clone(), took)
    }
}

/// The search term of the `i`-th request.
type Term<'a> = Box<dyn Fn(usize) -> String + 'a>;

struct Row {
    query: String,
    p50: f64,
    p99: f64,
    target: f64,
}

impl Row {
    fn new(query: impl Into<String>, samples: &mut [Duration], target: f64) -> Row {
        Row {
            query: query.into(),
            p50: ms(percentile(samples, 0.5)),
            p99: ms(percentile(samples, 0.99)),
            target,
        }
    }

    fn ok(&self) -> &'static str {
        if self.p99 <= self.target {
            "yes"
        } else {
            "NO"
        }
    }
}

/// Search terms taken from `n` random customers: (last name, e-mail, id, phone) fragments.
#[derive(QueryableByName)]
struct Sample {
    #[diesel(sql_type = Text)]
    external_id: String,
    #[diesel(sql_type = Text)]
    last_name: String,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    phone_number: String,
}

#[tokio::main]
async fn main() {
    let args = args();
    let db = BenchDb::create();
    let (company_id, api_key) = db.company();
    println!(
        "customers_bench: {} customers in one company, {} requests per query",
        args.customers, args.requests
    );
    let started = Instant::now();
    let phases = generate(&db.url, company_id, args.customers);
    let load = started.elapsed();
    for (phase, took) in &phases {
        println!("  generator: {phase:<15} {:>6.1} s", took.as_secs_f64());
    }
    println!("  generator: total           {:>6.1} s", load.as_secs_f64());

    let mut conn = PgConnection::establish(&db.url).expect("connect");
    let samples: Vec<Sample> = diesel::sql_query(
        "SELECT external_id, last_name, email, phone_number FROM customers TABLESAMPLE SYSTEM (1) REPEATABLE (7)
         WHERE last_name IS NOT NULL LIMIT 500",
    )
    .load(&mut conn)
    .expect("samples");
    assert!(!samples.is_empty(), "no customers to take search terms from");
    let pick = |i: usize| &samples[i * 7 % samples.len()];

    let server = Server::start(&db.url).await;
    let client =
        Client { http: reqwest::Client::new(), url: format!("{}/graphql", server.base_url), key: api_key };
    let r = args.requests;
    let mut rows: Vec<Row> = Vec::new();
    let mut detail: Vec<Row> = Vec::new();

    // Warm up the server's pool and the database's caches a little.
    for _ in 0..20 {
        client.customers(LIST, json!({})).await;
    }

    let week_from = (chrono::Utc::now() - chrono::Duration::days(100)).to_rfc3339();
    let week_to = (chrono::Utc::now() - chrono::Duration::days(93)).to_rfc3339();
    let filters: Vec<(&str, Value)> = vec![
        ("no filter", json!({})),
        ("isTest: true", json!({"isTest": true})),
        ("isTest: false", json!({"isTest": false})),
        ("doNotCall: true", json!({"doNotCall": true})),
        ("taskType: recovery", json!({"taskType": "recovery"})),
        ("state: TX", json!({"state": "TX"})),
        ("state: WY", json!({"state": "WY"})),
        ("createdAt: a 7-day range", json!({"createdAtFrom": week_from, "createdAtTo": week_to})),
    ];
    let orders = ["CREATED_AT", "UPDATED_AT", "LAST_NAME", "ID"];
    for (name, filter) in &filters {
        let mut pooled = Vec::new();
        let mut worst = (String::new(), 0.0);
        for order in orders {
            for dir in ["ASC", "DESC"] {
                let mut s = Vec::new();
                for _ in 0..r {
                    let vars = json!({"f": filter, "o": order, "d": dir});
                    s.push(client.customers(LIST, vars).await.1);
                }
                let row = Row::new(format!("first page, {name}, {order} {dir}"), &mut s, 10.0);
                if row.p99 > worst.1 {
                    worst = (format!("{order} {dir}"), row.p99);
                }
                detail.push(row);
                pooled.extend(s);
            }
        }
        rows.push(Row::new(
            format!("first page of 50, {name} (8 orders; slowest {})", worst.0),
            &mut pooled,
            10.0,
        ));
    }

    // Keyset pages: follow endCursor 5 pages deep from the first page.
    for order in orders {
        let mut pooled = Vec::new();
        for dir in ["ASC", "DESC"] {
            for filter in [json!({}), json!({"state": "TX"})] {
                for _ in 0..(r / 5).max(1) {
                    let (mut page, _) =
                        client.customers(LIST, json!({"f": filter, "o": order, "d": dir})).await;
                    for _ in 0..5 {
                        let after = page["pageInfo"]["endCursor"].clone();
                        let (next, took) = client
                            .customers(LIST, json!({"f": filter, "o": order, "d": dir, "a": after}))
                            .await;
                        pooled.push(took);
                        page = next;
                    }
                }
            }
        }
        rows.push(Row::new(
            format!("keyset pages 2-6, {order} (ASC+DESC, none + state TX)"),
            &mut pooled,
            10.0,
        ));
    }

    // Search, each request with another customer's fragment.
    let searches: Vec<(&str, Term)> = vec![
        ("search: a last name", Box::new(|i| pick(i).last_name.to_lowercase())),
        (
            "search: a common name fragment (\"son\", \"smi\", \"ell\")",
            Box::new(|i| ["son", "smi", "ell"][i % 3].to_string()),
        ),
        (
            "search: an e-mail fragment",
            Box::new(|i| {
                let e = &pick(i).email;
                e[1..e.find('@').unwrap_or(e.len())].to_string()
            }),
        ),
        ("search: an id fragment", Box::new(|i| pick(i).external_id[3..10].to_string())),
        (
            "search: phone digits as typed \"(310) 555-12\"",
            Box::new(|i| {
                let p = &pick(i).phone_number;
                format!("({}) {}-{}", &p[2..5], &p[5..8], &p[8..10])
            }),
        ),
        ("search: phone digits \"3105551\"", Box::new(|i| pick(i).phone_number[2..9].to_string())),
        ("search: 2 characters (a field's start)", Box::new(|i| pick(i).last_name[..2].to_string())),
        ("search: a term matching nothing", Box::new(|i| format!("zq{i}xj"))),
    ];
    for (name, term) in &searches {
        let mut s = Vec::new();
        for i in 0..r {
            s.push(client.customers(LIST, json!({"f": {"search": term(i)}})).await.1);
        }
        rows.push(Row::new(*name, &mut s, 50.0));
    }
    // Search in other orders, and a next page.
    let mut s = Vec::new();
    for i in 0..r {
        let order = orders[i % 4];
        let (page, took) = client
            .customers(LIST, json!({"f": {"search": pick(i).last_name.to_lowercase()}, "o": order}))
            .await;
        s.push(took);
        if page["pageInfo"]["hasNextPage"] == true {
            let after = page["pageInfo"]["endCursor"].clone();
            let vars = json!({"f": {"search": pick(i).last_name.to_lowercase()}, "o": order, "a": after});
            s.push(client.customers(LIST, vars).await.1);
        }
    }
    rows.push(Row::new("search: a last name, every order, and its next page", &mut s, 50.0));

    // Counts.
    let counts: Vec<(&str, Value)> = vec![
        ("no filter", json!({})),
        ("state: TX", json!({"state": "TX"})),
        ("state: WY", json!({"state": "WY"})),
        ("isTest: false", json!({"isTest": false})),
        ("search: a common fragment", json!({"search": "son"})),
    ];
    for field in ["totalCount", "totalCountEstimate"] {
        let query = format!("query($f: CustomerFilter) {{ customers(filter: $f, first: 0) {{ {field} }} }}");
        for (name, filter) in &counts {
            let mut s = Vec::new();
            let mut value = Value::Null;
            for _ in 0..r {
                let (data, took) = client.customers(&query, json!({"f": filter})).await;
                value = data[field].clone();
                s.push(took);
            }
            rows.push(Row::new(format!("{field}, {name} (= {value})"), &mut s, 50.0));
        }
    }

    println!();
    println!("  {:<86} {:>8} {:>8} {:>7}  ok", "query (first pages by order)", "p50 ms", "p99 ms", "target");
    for row in &detail {
        println!("  {:<86} {:>8.2} {:>8.2} {:>7.0}  {}", row.query, row.p50, row.p99, row.target, row.ok());
    }
    println!();
    println!("  {:<86} {:>8} {:>8} {:>7}  ok", "query", "p50 ms", "p99 ms", "target");
    for row in &rows {
        println!("  {:<86} {:>8.2} {:>8.2} {:>7.0}  {}", row.query, row.p50, row.p99, row.target, row.ok());
    }
    println!();
    println!("<!-- bench:customers -->");
    println!("### Customers: {} in one company", args.customers);
    println!();
    println!(
        "`target/release/examples/customers_bench --customers {} --requests {}`: generator {:.1} s \
         (insert {:.1} s, indexes {:.1} s, VACUUM ANALYZE {:.1} s); then each query over HTTP, \
         one at a time, p50/p99 over {} requests.",
        args.customers,
        args.requests,
        load.as_secs_f64(),
        phases["insert"].as_secs_f64(),
        phases["indexes"].as_secs_f64(),
        phases["vacuum analyze"].as_secs_f64(),
        args.requests
    );
    println!();
    println!("| query | p50 ms | p99 ms | target | ok |");
    println!("|---|---:|---:|---:|---|");
    for row in &rows {
        println!(
            "| {} | {:.2} | {:.2} | ≤ {:.0} ms | {} |",
            row.query,
            row.p50,
            row.p99,
            row.target,
            row.ok()
        );
    }
    println!("<!-- /bench -->");
}
