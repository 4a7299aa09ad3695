package fleet

import ()
