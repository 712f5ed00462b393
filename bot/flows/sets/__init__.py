"""Study sets: a teacher's named, ordered sets of atlas images for a server (`/mirage set …`, the ➕ Add to
set button), played as a group quiz in the set's order, exported and imported as a small JSON file."""
