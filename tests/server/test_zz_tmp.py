import json
from tests.server.docs import insert_job
def test_x(world):
    insert_job(world.db, world.project_a, world.manager_a, world.alice)
    for w in ({"name": {"$in": "notalist"}}, {"$and": 5}, {"name": {"$size": "x"}}, {"name": {"$mod": 5}}, {"name": {"$type": "nonsense"}}, {"name": {"$elemMatch": 5}}, {"name": {"$bitsAllSet": "x"}}, {"name": {"$all": 5}}, {"name": {"$geometry": 1}}, {"name": {"$not": 5}}):
        r = world.api("alice").get("/api/flamenco/jobs", query={"where": json.dumps(w)})
        print(w, r.status_code, r.get_data(as_text=True)[:150])
