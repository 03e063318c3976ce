select * from marts.no_such_table
